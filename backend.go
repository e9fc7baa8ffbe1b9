package mongosession

import (
	"context"
	"log/slog"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Backend is the part of a Store that faces are built on: the packages
// that translate the store for a session manager (gorillastore,
// fiberstore, httpsession, nodesession, or one of your own), much as
// database/sql/driver serves driver authors while database/sql serves
// applications. Applications use the Store's own methods and never need
// it. Get one with Store.Backend; it is valid as long as its Store, and as
// safe for concurrent use.
type Backend struct{ s *Store }

// Backend returns the face-author surface of the store (see Backend).
func (s *Store) Backend() Backend { return Backend{s} }

// FindRecord is Store.FindCtx returning the session's stored _id and
// expiry with its data, for faces that decide whether a write is needed:
// Record.Stale says the stored form is out of date even if the data is
// unchanged.
func (b Backend) FindRecord(ctx context.Context, token string) (rec Record, found bool, err error) {
	return b.s.findRecord(ctx, token)
}

// Do runs fn as one operation of the store, for faces that work on
// documents rather than bytes (the native manager, nodesession): it fails
// with ErrClosed after Close, counts fn as in flight so that Close waits
// for it, bounds ctx by Options.Timeout when it has no deadline, and
// classifies fn's error as the store's own methods do (ErrUnavailable for
// an outage, the context's error for cancellation), prefixed with op. fn
// receives the sessions collection.
func (b Backend) Do(ctx context.Context, op string, fn func(ctx context.Context, coll *mongo.Collection) error) error {
	return b.s.do(ctx, op, fn)
}

// Report sends a failure that no caller is waiting for to the logger and
// to Options.OnError, as the store does for its own background work. The
// message and error must not contain a session token.
func (b Backend) Report(msg string, err error) { b.s.report(msg, err) }

// Seal prepares data for storage in the document whose _id is id: with
// EncryptionKeys, AES-256-GCM under the first key with id and field bound
// in as associated data; without, the bytes as they are. field tells apart
// several sealed values in one document (a field name, or anything else
// the value must stay bound to); pass "" for the session data itself. The
// result is stored as BSON binary.
func (b Backend) Seal(id, field string, data []byte) (bson.Binary, error) {
	return b.s.seal(id, field, data)
}

// Open returns the bytes that Seal stored for (id, field). It fails with
// an error wrapping ErrCorrupt when the value is not of the configured kind
// (encrypted data without keys or plain data with keys), or does not
// decrypt: a wrong key, tampering, truncation, or a value moved from
// another document or field.
func (b Backend) Open(id, field string, bin bson.Binary) ([]byte, error) {
	return b.s.open(id, field, bin)
}

// Encrypted reports whether the store encrypts data at rest
// (Options.EncryptionKeys is set).
func (b Backend) Encrypted() bool { return b.s.cipher != nil }

// StoredID returns the _id under which the session of token is stored:
// its SHA-256 in unpadded base64url, or with PlainIDs the token itself. ok
// is false for a token that can never be valid (see ErrInvalidToken); it
// is then "not found" everywhere.
func (b Backend) StoredID(token string) (id string, ok bool) { return b.s.storedID(token) }

// PlainIDs reports whether the store keeps tokens themselves as _id
// (Options.PlainIDs), as a collection shared with Node needs.
func (b Backend) PlainIDs() bool { return b.s.cfg.PlainIDs }

// ExpiresKey returns the name of the expiry field (Options.ExpiresKey).
func (b Backend) ExpiresKey() string { return b.s.cfg.ExpiresKey }

// DefaultLifetime returns the lifetime given to a session written without
// an expiry (Options.Expires).
func (b Backend) DefaultLifetime() time.Duration { return b.s.cfg.Expires }

// Timeout returns the bound applied to operations whose context has no
// deadline (Options.Timeout).
func (b Backend) Timeout() time.Duration { return b.s.cfg.Timeout }

// Logger returns the store's logger (Options.Logger or slog.Default()).
func (b Backend) Logger() *slog.Logger { return b.s.cfg.Logger }

// Reaping reports whether the store runs its own reaper: with
// AutoRemoveInterval, or with AutoRemoveTTL on a server without TTL
// indexes.
func (b Backend) Reaping() bool { return b.s.reaping }

// TTLIndexName is the name of the TTL index the store creates on the
// expiry field: the server's default name for {<ExpiresKey>: 1}.
func (b Backend) TTLIndexName() string { return b.s.ttlIndexName() }

// Closed reports whether Close has been called: every operation then
// returns ErrClosed.
func (b Backend) Closed() bool { return b.s.isClosed() }
