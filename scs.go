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

// AllCtx returns every session that has not expired or ended. With
// PlainIDs it is keyed by token. Otherwise the tokens are not stored, and
// each key is a handle on the session that this Store's Find, Commit,
// Touch and Delete accept in place of its token, so scs's Iterate works as
// documented (a Destroy inside it ends the session it names). A handle is
// not a token: it fails as a cookie, is refused by any other Store or
// process, and cannot be made from a copy of the collection. It holds all
// sessions in memory at once, as scs's contract requires; Iter streams
// instead.
func (s *Store) AllCtx(ctx context.Context) (map[string][]byte, error) {
	all := make(map[string][]byte)
	for rec, err := range s.Iter(ctx) {
		if err != nil {
			return nil, err
		}
		key := rec.ID
		if !s.cfg.PlainIDs {
			key = s.handle(rec.ID)
		}
		all[key] = rec.Data
	}
	return all, nil
}

// All is AllCtx with a background context bounded by Options.Timeout per
// batch.
func (s *Store) All() (map[string][]byte, error) {
	return s.AllCtx(context.Background())
}
