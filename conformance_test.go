package mongosession_test

import (
	"testing"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Config{
		New: func(t *testing.T) storetest.Store {
			return storetest.Engine(newStore(t, mongosession.Options{}))
		},
	})
}

func TestConformanceHashedEncrypted(t *testing.T) {
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	storetest.Run(t, storetest.Config{
		New: func(t *testing.T) storetest.Store {
			return storetest.Engine(newStore(t, mongosession.Options{EncryptionKeys: [][]byte{key}}))
		},
	})
}
