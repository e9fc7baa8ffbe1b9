package nodesession

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
)

// ErrLegacyEncryption is returned when a stored connect-mongo session is
// encrypted in the legacy kruptein format (connect-mongo's crypto option),
// whose layout changes between kruptein versions. Move the Node app to
// connect-mongo's createWebCryptoAdapter first; its format is supported
// (ConnectMongo.Crypto).
var ErrLegacyEncryption = errors.New("nodesession: connect-mongo session is encrypted with the legacy kruptein format, which is not supported; switch the Node app to createWebCryptoAdapter")

// WebCrypto mirrors connect-mongo's createWebCryptoAdapter options: the
// session is stored as encode(iv || AES-256-GCM(ciphertext || tag)) with
// a key derived by PBKDF2-SHA256 from Secret.
type WebCrypto struct {
	// Secret is the adapter's secret. Required.
	Secret string

	// Salt is the PBKDF2 salt. Optional. Default:
	// "connect-mongo:webcrypto-default-salt".
	Salt string

	// Iterations is the PBKDF2 iteration count. Optional. Default: 310000.
	Iterations int

	// Encoding is "base64", "base64url" or "hex". Optional. Default: "base64".
	Encoding string

	// IVLength is the IV length in bytes: 12 (AES-GCM's standard nonce,
	// which the Web Crypto API's examples use) to 64. Shorter IVs are
	// refused: random nonces that short repeat after few sessions, and a
	// repeated nonce under one key breaks GCM's confidentiality and lets
	// ciphertexts be forged. Optional. Default: 12.
	IVLength int
}

type webCipher struct {
	aead     cipher.AEAD
	ivLen    int
	encoding string
}

func (c *WebCrypto) build() (*webCipher, error) {
	if c.Secret == "" {
		return nil, errors.New("ConnectMongo.Crypto.Secret: required")
	}
	salt, iter, enc, ivLen := c.Salt, c.Iterations, c.Encoding, c.IVLength
	if salt == "" {
		salt = "connect-mongo:webcrypto-default-salt"
	}
	if iter == 0 {
		iter = 310000
	}
	if iter < 0 {
		return nil, errors.New("ConnectMongo.Crypto.Iterations: must be positive")
	}
	switch enc {
	case "":
		enc = "base64"
	case "base64", "base64url", "hex":
	default:
		return nil, errors.New(`ConnectMongo.Crypto.Encoding: must be "base64", "base64url" or "hex"`)
	}
	if ivLen == 0 {
		ivLen = 12
	}
	if ivLen < 12 || ivLen > 64 {
		return nil, errors.New("ConnectMongo.Crypto.IVLength: must be between 12 and 64 bytes")
	}
	key, err := pbkdf2.Key(sha256.New, c.Secret, []byte(salt), iter, 32)
	if err != nil {
		return nil, fmt.Errorf("ConnectMongo.Crypto: deriving the key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	var aead cipher.AEAD
	if ivLen == 12 {
		aead, err = cipher.NewGCM(block)
	} else {
		aead, err = cipher.NewGCMWithNonceSize(block, ivLen)
	}
	if err != nil {
		return nil, err
	}
	return &webCipher{aead: aead, ivLen: ivLen, encoding: enc}, nil
}

func (c *webCipher) encode(b []byte) string {
	switch c.encoding {
	case "hex":
		return hex.EncodeToString(b)
	case "base64url":
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func (c *webCipher) decode(s string) ([]byte, error) {
	switch c.encoding {
	case "hex":
		return hex.DecodeString(s)
	case "base64url":
		// Buffer.from(s, "base64url") accepts padding too.
		return base64.RawURLEncoding.DecodeString(trimPad(s))
	}
	return base64.StdEncoding.DecodeString(s)
}

func trimPad(s string) string {
	for len(s) > 0 && s[len(s)-1] == '=' {
		s = s[:len(s)-1]
	}
	return s
}

func (c *webCipher) encrypt(plain []byte) (string, error) {
	iv := make([]byte, c.ivLen)
	if _, err := rand.Read(iv); err != nil {
		return "", err
	}
	return c.encode(c.aead.Seal(iv, iv, plain, nil)), nil
}

func (c *webCipher) decrypt(s string) ([]byte, error) {
	b, err := c.decode(s)
	if err != nil || len(b) < c.ivLen+c.aead.Overhead() {
		if looksKruptein(s) {
			return nil, ErrLegacyEncryption
		}
		return nil, errors.New("encrypted session is not in connect-mongo's WebCrypto format")
	}
	plain, err := c.aead.Open(nil, b[:c.ivLen], b[c.ivLen:], nil)
	if err != nil {
		if looksKruptein(s) {
			return nil, ErrLegacyEncryption
		}
		return nil, errors.New("encrypted session does not decrypt with ConnectMongo.Crypto (wrong secret?)")
	}
	return plain, nil
}

// looksKruptein reports whether s has the shape of a kruptein ciphertext:
// the JSON object {"hmac","ct","iv","at"} of kruptein 1 and 2, or the
// base64 ASN.1 DER SEQUENCE of kruptein 3.
func looksKruptein(s string) bool {
	if len(s) > 0 && s[0] == '{' {
		ms, err := parseJSONObject([]byte(s))
		if err != nil {
			return false
		}
		keys := map[string]bool{}
		for _, m := range ms {
			keys[m.key] = true
		}
		return keys["ct"] && keys["iv"]
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) < 4 || b[0] != 0x30 {
		return false
	}
	// DER length: short form, or long form with 1 or 2 length bytes.
	var n, hdr int
	switch {
	case b[1] < 0x80:
		n, hdr = int(b[1]), 2
	case b[1] == 0x81:
		n, hdr = int(b[2]), 3
	case b[1] == 0x82:
		n, hdr = int(b[2])<<8|int(b[3]), 4
	default:
		return false
	}
	return hdr+n == len(b) && bytes.IndexByte(b[hdr:], 0x04) >= 0
}
