package httpsession

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"time"

	"github.com/mongosession/mongosession/internal/token"
)

// A token is a selector and a verifier, both unpadded base64url, written
// one after the other in the cookie (fixed lengths, no separator):
//
//   - the selector, 24 bytes (32 characters): the session's creation time
//     in milliseconds since 1970 (6 bytes, big-endian) and 18 random bytes
//     (144 bits). It is the document's _id for the session's whole life,
//     and Info.ID. The creation time is the start of Lifetime: a write
//     that has not read the session can compute its deadline, and since
//     the selector is the _id, a forged time names no document;
//   - the verifier, 32 random bytes (43 characters), which proves
//     possession. The document stores only v = SHA-256(verifier), so a copy
//     of the collection yields no cookie. RenewToken replaces the verifier
//     only.
const (
	selectorTime  = 6  // bytes; a multiple of 3, so its base64 ends on a boundary
	selectorRand  = 18 // bytes
	selectorLen   = 32 // characters
	verifierBytes = 32
	tokenLen      = selectorLen + 43
)

var b64 = base64.RawURLEncoding

// newSelector returns a fresh selector for a session created at created.
func newSelector(created time.Time) string {
	var t [8]byte
	binary.BigEndian.PutUint64(t[:], uint64(created.UnixMilli()))
	return b64.EncodeToString(t[8-selectorTime:]) + token.Random(selectorRand)
}

// newVerifier returns a fresh verifier and the hash stored for it.
func newVerifier() (verifier, hash string) {
	verifier = token.Random(verifierBytes)
	return verifier, hashVerifier(verifier)
}

// hashVerifier is what the document stores for verifier: SHA-256, base64url.
func hashVerifier(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return b64.EncodeToString(sum[:])
}

// sameHash compares two stored hashes in constant time.
func sameHash(a, b string) bool {
	return len(a) > 0 && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// selectorTimeOf returns the creation time a selector carries.
func selectorTimeOf(sel string) (time.Time, bool) {
	var t [8]byte
	if len(sel) != selectorLen {
		return time.Time{}, false
	}
	if _, err := b64.Decode(t[8-selectorTime:], []byte(sel[:8])); err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(int64(binary.BigEndian.Uint64(t[:]))), true
}

// validSelector reports whether sel is a selector this package can have
// made: its length, alphabet and creation time.
func validSelector(sel string) bool {
	_, ok := selectorTimeOf(sel)
	return ok && token.IsRandom(sel, selectorTime+selectorRand)
}

// parseToken splits a cookie value into its selector, the hash of its
// verifier and the creation time the selector carries. ok is false for
// anything this package cannot have made (wrong length, a character out
// of the base64url alphabet): such a cookie is "no session", without a
// round trip to the server.
func parseToken(tok string) (sel, hash string, created time.Time, ok bool) {
	if len(tok) != tokenLen || !validSelector(tok[:selectorLen]) || !token.IsRandom(tok[selectorLen:], verifierBytes) {
		return "", "", time.Time{}, false
	}
	sel = tok[:selectorLen]
	created, _ = selectorTimeOf(sel)
	return sel, hashVerifier(tok[selectorLen:]), created, true
}
