package mongosession

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"

	"github.com/mongosession/mongosession/internal/token"
)

// MaxTokenLength is the longest token the store accepts, in bytes. Session
// tokens are short (scs: 43 characters); anything longer comes from a
// hostile or broken client and is "not found" without a round trip.
const MaxTokenLength = token.MaxLength

// validToken reports whether t could be a session token: non-empty, at
// most MaxTokenLength bytes, valid UTF-8, without control characters.
func validToken(t string) bool { return token.Plausible(t) }

// storedID is Backend.StoredID.
func (s *Store) storedID(token string) (id string, ok bool) {
	if strings.HasPrefix(token, handlePrefix) {
		return s.handleID(token)
	}
	if !validToken(token) {
		return "", false
	}
	if s.cfg.PlainIDs {
		return token, true
	}
	return HashID(token), true
}

// HashID returns the SHA-256 of token in unpadded base64url: the stored _id
// of token's session unless Options.PlainIDs is on.
func HashID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// handlePrefix starts a handle (see handle). A NUL byte can never start a
// token: validToken refuses control characters, and no cookie carries one.
const handlePrefix = "\x00h:"

// handle returns a key that stands for the session stored under id, for
// AllCtx's map when ids are hashes (not tokens): scs's Iterate hands these
// keys back to Find, Commit and Delete (a Destroy inside Iterate must end
// the session it names). A handle carries an HMAC under a key drawn at
// random in New, so it works only with this Store, only in this process,
// and cannot be made from a stored _id: a copy of the collection still
// yields nothing usable, as a cookie or otherwise.
func (s *Store) handle(id string) string {
	return handlePrefix + id + "." + s.handleMAC(id)
}

// handleID returns the _id a handle stands for; ok is false for anything
// this Store did not make.
func (s *Store) handleID(h string) (id string, ok bool) {
	rest := h[len(handlePrefix):]
	i := strings.LastIndexByte(rest, '.')
	if i < 0 || !hmac.Equal([]byte(rest[i+1:]), []byte(s.handleMAC(rest[:i]))) {
		return "", false
	}
	return rest[:i], true
}

func (s *Store) handleMAC(id string) string {
	m := hmac.New(sha256.New, s.handleKey[:])
	m.Write([]byte(id))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
