package httpsession

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
)

// tokenBytes is the entropy of a session token: 256 bits (OWASP asks for at
// least 64).
const tokenBytes = 32

// tokenLen is the length of a token in unpadded base64url.
var tokenLen = base64.RawURLEncoding.EncodedLen(tokenBytes)

// newToken returns a fresh token: 256 bits from crypto/rand in unpadded
// base64url (43 characters).
func newToken() (string, error) {
	b := make([]byte, tokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("httpsession: reading random bytes for a token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// wellFormed reports whether a cookie value could be a token this package
// made: exactly tokenLen characters of the base64url alphabet. Anything
// else is "no session" without a round trip to the server.
func wellFormed(token string) bool {
	if len(token) != tokenLen {
		return false
	}
	for i := 0; i < len(token); i++ {
		c := token[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
