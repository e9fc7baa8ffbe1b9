// Package fiberstore lets gofiber/fiber v3 keep its sessions (and, if you
// wish, its limiter, cache or CSRF entries) in MongoDB through a
// mongosession.Store.
//
// A *Storage satisfies fiber.Storage of fiber v3 structurally: this package
// does not import fiber. Give it to fiber's session middleware:
//
//	store, err := mongosession.New(ctx, mongosession.Options{URI: uri, Collection: "sessions"})
//	...
//	storage := fiberstore.New(store)
//	defer storage.Close()
//	app.Use(recover.New()) // fiber's session middleware panics when Get fails
//	app.Use(session.New(session.Config{Storage: storage}))
//
// Each key is one document of the store's collection, keyed by _id (the
// key's SHA-256, or the key itself with Options.PlainIDs), with the value
// as BinData and an absolute expiry date that the TTL index (or the
// store's reaper) acts on. Delete leaves an ended marker that no later Set
// writes over (see mongosession.Store.DeleteCtx).
//
// # Keys
//
// Keys from fiber's session middleware are the session IDs, random tokens
// from the cookie: an attacker controls them, and a hostile one is simply a
// missing key. Keys from other middleware (limiter, cache, csrf,
// idempotency) are supported under the same rules: a key is a string of at
// most mongosession.MaxTokenLength bytes of valid UTF-8 without control
// characters. Give each middleware its own Store on its own collection:
// Reset clears the whole collection, and the store counts, lists and
// clears every document in it as a session.
package fiberstore

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"

	"github.com/mongosession/mongosession"
)

// NoExpiry is the expiry date given to a value set with expiry 0, which
// fiber's Storage contract defines as "no expiration": a date no TTL index
// or reaper will ever reach. To give such values the store's lifetime
// instead, pass store.Backend().DefaultLifetime() as the expiry.
var NoExpiry = time.Date(9999, time.December, 31, 23, 59, 59, 0, time.UTC)

// Storage is fiber v3's fiber.Storage on a *mongosession.Store. It is safe
// for concurrent use and starts no goroutine. Every method without a
// context bounds its call by the store's Timeout (Options.Timeout, default
// 5 s); so do the WithContext forms when ctx has no deadline (a fiber.Ctx
// has none).
//
// # Unchanged values are not rewritten
//
// fiber's session middleware saves every session after every request, to
// slide its idle timeout, so a read-only request would cost a find and an
// update. Storage remembers, for the keys this process has recently read
// or written (at most MaxRemembered), a digest of the value and the expiry
// stored with it, and a Set of the same value whose new expiry is less than
// a tenth of its lifetime later than the stored one sends nothing: a
// read-only request costs one find, and the idle deadline slides in steps
// of a tenth of the timeout. A Set of a changed value, or one that would
// move the expiry further or bring it earlier, writes as usual, and so
// does the first Set after a Get that found the value stale (under a
// retired EncryptionKeys entry, or under its plain token with
// MigratePlainIDs), which re-encrypts or moves it.
type Storage struct {
	store *mongosession.Store

	mu   sync.Mutex
	seen map[string]seenValue
}

// seenValue is what this process last read or wrote under a key.
type seenValue struct {
	sum     [sha256.Size]byte
	expires time.Time
}

// MaxRemembered bounds how many keys a Storage remembers to skip
// unchanged writes (about 100 bytes each); past it, the oldest-looking tenth
// is forgotten and those keys' next unchanged Set writes again.
const MaxRemembered = 10000

// New returns a Storage on store. The store stays its owner's: whoever
// called mongosession.New closes it, not Storage.Close. A nil store gives
// a Storage whose every method but Close returns mongosession.ErrClosed.
func New(store *mongosession.Store) *Storage {
	return &Storage{store: store, seen: make(map[string]seenValue)}
}

// remember records that val is stored under key until expires.
func (s *Storage) remember(key string, val []byte, expires time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.seen) >= MaxRemembered {
		// Forget a tenth, in map order: cheap, and the cost of forgetting
		// is one write that could have been skipped.
		n := MaxRemembered / 10
		for k := range s.seen {
			delete(s.seen, k)
			if n--; n == 0 {
				break
			}
		}
	}
	s.seen[key] = seenValue{sum: sha256.Sum256(val), expires: expires}
}

func (s *Storage) forget(key string) {
	s.mu.Lock()
	delete(s.seen, key)
	s.mu.Unlock()
}

// unchanged reports whether val is what is stored under key, as far as this
// process knows, with an expiry no earlier than a tenth of the lifetime
// before the one requested and no later than it: a Set that shortens the
// expiry (a lower idle timeout, a finite exp after NoExpiry) always writes.
func (s *Storage) unchanged(key string, val []byte, expires time.Time, lifetime time.Duration) bool {
	s.mu.Lock()
	prev, ok := s.seen[key]
	s.mu.Unlock()
	if !ok || !prev.expires.After(time.Now()) || prev.sum != sha256.Sum256(val) {
		return false
	}
	if lifetime == 0 {
		return prev.expires.Equal(expires)
	}
	d := expires.Sub(prev.expires)
	return d >= 0 && d < lifetime/10
}

// Store returns the underlying store, for Count, Iter and administration.
func (s *Storage) Store() *mongosession.Store { return s.store }

// GetWithContext returns the value stored under key. A missing, expired or
// malformed key (empty, too long, invalid UTF-8, control characters) gives
// nil, nil, and so does a stored document the store cannot read (reported
// through the store's OnError). The error is for system failures:
// mongosession.ErrClosed after Close, mongosession.ErrUnavailable when the
// server fails or is out of reach, or ctx's own error. The returned slice
// is the caller's.
func (s *Storage) GetWithContext(ctx context.Context, key string) ([]byte, error) {
	if s == nil || s.store == nil {
		return nil, mongosession.ErrClosed
	}
	rec, found, err := s.store.Backend().FindRecord(ctx, key)
	if err != nil || !found {
		if err == nil {
			s.forget(key)
		}
		return nil, err
	}
	b := rec.Data
	if rec.Stale {
		// Under a retired encryption key or a plain token: the next Set
		// rewrites it even unchanged, which re-encrypts or moves it.
		s.forget(key)
	} else {
		s.remember(key, b, rec.Expires)
	}
	if b == nil {
		// Found means found: never answer nil, nil for a stored value.
		b = []byte{}
	}
	return b, nil
}

// Get is GetWithContext with a background context.
func (s *Storage) Get(key string) ([]byte, error) {
	return s.GetWithContext(context.Background(), key)
}

// SetWithContext stores val under key until exp from now, replacing any
// value stored there. exp 0 means no expiration (see NoExpiry); a negative
// exp deletes the key, as a value already expired. An empty key or an
// empty val is ignored without an error, leaving any stored value as it
// was. A key that can never be stored (longer than
// mongosession.MaxTokenLength, invalid UTF-8, control characters) fails
// with mongosession.ErrInvalidToken; a value too large for a MongoDB
// document with mongosession.ErrTooLarge. val is not retained.
func (s *Storage) SetWithContext(ctx context.Context, key string, val []byte, exp time.Duration) error {
	if s == nil || s.store == nil {
		return mongosession.ErrClosed
	}
	if key == "" || len(val) == 0 {
		return nil
	}
	if exp < 0 {
		return s.DeleteWithContext(ctx, key)
	}
	expires := NoExpiry
	if exp > 0 {
		expires = time.Now().Add(exp)
	}
	if s.unchanged(key, val, expires, exp) {
		if s.store.Backend().Closed() {
			return mongosession.ErrClosed
		}
		return nil
	}
	if err := s.store.CommitCtx(ctx, key, val, expires); err != nil {
		s.forget(key)
		return err
	}
	s.remember(key, val, expires)
	return nil
}

// Set is SetWithContext with a background context.
func (s *Storage) Set(key string, val []byte, exp time.Duration) error {
	return s.SetWithContext(context.Background(), key, val, exp)
}

// DeleteWithContext deletes the value stored under key. A missing,
// expired or malformed key is a no-op with a nil error.
func (s *Storage) DeleteWithContext(ctx context.Context, key string) error {
	if s == nil || s.store == nil {
		return mongosession.ErrClosed
	}
	s.forget(key)
	return s.store.DeleteCtx(ctx, key)
}

// Delete is DeleteWithContext with a background context.
func (s *Storage) Delete(key string) error {
	return s.DeleteWithContext(context.Background(), key)
}

// ResetWithContext deletes every key in the store's collection, expired
// or not, with one deleteMany. The collection and its indexes (the TTL
// index) stay: unlike a drop, nothing needs recreating afterwards.
func (s *Storage) ResetWithContext(ctx context.Context) error {
	if s == nil || s.store == nil {
		return mongosession.ErrClosed
	}
	s.mu.Lock()
	clear(s.seen)
	s.mu.Unlock()
	return s.store.Clear(ctx)
}

// Reset is ResetWithContext with a background context.
func (s *Storage) Reset() error {
	return s.ResetWithContext(context.Background())
}

// Close satisfies fiber.Storage and returns nil. It does not close the
// mongosession.Store: as with every face, whoever called mongosession.New
// closes the store (so one store can serve several Storages and faces),
// and after that every call of the Storage returns mongosession.ErrClosed.
func (s *Storage) Close() error { return nil }
