package mongosession

import (
	"context"
	"time"
)

// This file gives *Store the method set of alexedwards/scs v2's Store,
// CtxStore, IterableStore and IterableCtxStore, without importing scs.
// The context-free forms bound each call by Options.Timeout.

// Find is FindCtx with a background context bounded by Options.Timeout.
func (s *Store) Find(token string) (b []byte, found bool, err error) {
	return s.FindCtx(context.Background(), token)
}

// Commit is CommitCtx with a background context bounded by Options.Timeout.
func (s *Store) Commit(token string, b []byte, expiry time.Time) error {
	return s.CommitCtx(context.Background(), token, b, expiry)
}

// Delete is DeleteCtx with a background context bounded by Options.Timeout.
func (s *Store) Delete(token string) error {
	return s.DeleteCtx(context.Background(), token)
}

// AllCtx returns every session that has not expired, keyed by the stored
// _id (the token, or its hash with HashIDs, which scs's Iterate then cannot
// load: iterate with HashIDs off, or use Iter). It holds all of them in
// memory at once, as scs's contract requires; Iter streams instead.
func (s *Store) AllCtx(ctx context.Context) (map[string][]byte, error) {
	all := make(map[string][]byte)
	for rec, err := range s.Iter(ctx) {
		if err != nil {
			return nil, err
		}
		all[rec.ID] = rec.Data
	}
	return all, nil
}

// All is AllCtx with a background context bounded by Options.Timeout per
// batch.
func (s *Store) All() (map[string][]byte, error) {
	return s.AllCtx(context.Background())
}
