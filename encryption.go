package mongosession

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Binary subtypes of the stored session data. Plain data is generic binary;
// encrypted data carries a user-defined subtype so that the two can never
// be mistaken for each other.
const (
	subtypePlain     byte = 0x00
	subtypeEncrypted byte = 0x80
)

// Encrypted layout: version(1) | key id(4) | nonce(12) | AES-256-GCM
// ciphertext and tag. The key id is the first 4 bytes of SHA-256 of the
// key, so a reader picks the key without trial decryption and an operator
// can tell which key wrote a document.
const (
	encVersion   = 1
	keyIDLen     = 4
	nonceLen     = 12
	encHeaderLen = 1 + keyIDLen + nonceLen
)

type keyedAEAD struct {
	id   [keyIDLen]byte
	aead cipher.AEAD
}

// cipherSet holds the AEADs of Options.EncryptionKeys, the first one used
// for sealing.
type cipherSet struct {
	keys []keyedAEAD
}

func newCipherSet(keys [][]byte) (*cipherSet, error) {
	cs := &cipherSet{}
	for _, k := range keys {
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(k)
		var ka keyedAEAD
		copy(ka.id[:], sum[:keyIDLen])
		ka.aead = aead
		cs.keys = append(cs.keys, ka)
	}
	return cs, nil
}

// seal encrypts plain under the first key with a fresh 96-bit random nonce
// from crypto/rand. Random nonces stay safe for 2^32 writes under one key
// (NIST SP 800-38D); SECURITY.md's rotation advice keeps well below that.
func (cs *cipherSet) seal(aad, plain []byte) ([]byte, error) {
	k := cs.keys[0]
	out := make([]byte, encHeaderLen, encHeaderLen+len(plain)+k.aead.Overhead())
	out[0] = encVersion
	copy(out[1:], k.id[:])
	if _, err := rand.Read(out[1+keyIDLen : encHeaderLen]); err != nil {
		return nil, fmt.Errorf("mongosession: reading a nonce: %w", err)
	}
	return k.aead.Seal(out, out[1+keyIDLen:encHeaderLen], plain, aad), nil
}

var errDecrypt = errors.New("data does not decrypt with any configured key")

// open decrypts data written by seal under any configured key.
func (cs *cipherSet) open(aad, data []byte) ([]byte, error) {
	if len(data) < encHeaderLen || data[0] != encVersion {
		return nil, errDecrypt
	}
	id, nonce, ct := data[1:1+keyIDLen], data[1+keyIDLen:encHeaderLen], data[encHeaderLen:]
	for _, k := range cs.keys {
		if subtle.ConstantTimeCompare(k.id[:], id) != 1 {
			continue
		}
		if plain, err := k.aead.Open(nil, nonce, ct, aad); err == nil {
			return plain, nil
		}
	}
	return nil, errDecrypt
}

// current reports whether data was sealed by the first (current) key.
func (cs *cipherSet) current(data []byte) bool {
	return len(data) >= encHeaderLen && subtle.ConstantTimeCompare(cs.keys[0].id[:], data[1:1+keyIDLen]) == 1
}

// seal is Backend.Seal.
func (s *Store) seal(id, field string, data []byte) (bson.Binary, error) {
	if s.cipher == nil {
		return bson.Binary{Subtype: subtypePlain, Data: data}, nil
	}
	ct, err := s.cipher.seal(aad(id, field), data)
	if err != nil {
		return bson.Binary{}, err
	}
	return bson.Binary{Subtype: subtypeEncrypted, Data: ct}, nil
}

// open is Backend.Open.
func (s *Store) open(id, field string, b bson.Binary) ([]byte, error) {
	switch {
	case s.cipher == nil && b.Subtype == subtypePlain:
		return b.Data, nil
	case s.cipher == nil:
		return nil, fmt.Errorf("%w: binary subtype 0x%02x (encrypted data, but no EncryptionKeys are configured)", ErrCorrupt, b.Subtype)
	case b.Subtype != subtypeEncrypted:
		return nil, fmt.Errorf("%w: unencrypted data, but EncryptionKeys are configured", ErrCorrupt)
	}
	plain, err := s.cipher.open(aad(id, field), b.Data)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return plain, nil
}

// aad is the associated data binding a sealed value to its document and
// field: id, a NUL (which id never contains: a token never does, nor its
// hash), field.
func aad(id, field string) []byte {
	b := make([]byte, 0, len(id)+1+len(field))
	b = append(b, id...)
	b = append(b, 0)
	return append(b, field...)
}
