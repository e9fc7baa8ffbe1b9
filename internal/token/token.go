// Package token makes and checks the random strings that stand for
// sessions, for the engine and every face: one generator, one set of
// rules, so that a fix to either applies everywhere.
package token

import (
	"crypto/rand"
	"encoding/base64"
	"unicode/utf8"
)

// MaxLength is the longest token any part of mongosession accepts, in
// bytes. Session tokens are short (scs: 43 characters); anything longer
// comes from a hostile or broken client.
const MaxLength = 512

// Random returns n bytes from crypto/rand in unpadded base64url.
func Random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// EncodedLen is the length of Random(n).
func EncodedLen(n int) int { return base64.RawURLEncoding.EncodedLen(n) }

// Plausible reports whether s could be a token made by someone else's
// generator (scs, fiber, a Node app): non-empty, at most MaxLength bytes,
// valid UTF-8, without control characters. Tokens are only ever used as
// string values in filters, so this is not what keeps them from injecting
// operators; it keeps junk off the wire.
func Plausible(s string) bool {
	if s == "" || len(s) > MaxLength || !utf8.ValidString(s) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// IsRandom reports whether s has the form of Random(n): exactly
// EncodedLen(n) characters of the unpadded base64url alphabet.
func IsRandom(s string, n int) bool {
	if len(s) != EncodedLen(n) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
