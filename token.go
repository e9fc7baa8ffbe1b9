package mongosession

import (
	"crypto/sha256"
	"encoding/base64"
	"unicode/utf8"
)

// MaxTokenLength is the longest token the store accepts, in bytes. Session
// tokens are short (scs: 43 characters); anything longer comes from a
// hostile or broken client and is "not found" without a round trip.
const MaxTokenLength = 512

// validToken reports whether token could be a session token: non-empty, at
// most MaxTokenLength bytes, valid UTF-8, without control characters.
// Tokens are only ever used as string values in filters, so this is not
// what keeps them from injecting operators; it keeps junk off the wire.
func validToken(token string) bool {
	if token == "" || len(token) > MaxTokenLength || !utf8.ValidString(token) {
		return false
	}
	for i := 0; i < len(token); i++ {
		if c := token[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// StoredID returns the _id under which the session of token is stored:
// the token itself, or with HashIDs its SHA-256 in unpadded base64url. ok
// is false for a token that can never be valid (see ErrInvalidToken); it
// is then "not found" everywhere.
func (s *Store) StoredID(token string) (id string, ok bool) {
	if !validToken(token) {
		return "", false
	}
	if !s.cfg.HashIDs {
		return token, true
	}
	return HashID(token), true
}

// HashID returns the SHA-256 of token in unpadded base64url: the stored _id
// of token's session when Options.HashIDs is on.
func HashID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
