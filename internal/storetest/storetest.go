// Package storetest is the conformance suite of the byte-level session
// contract: the engine runs it directly, and every face that maps onto the
// contract (scs, gorilla, gin, fiber) runs it through an adapter, so that
// each face is held to the same behaviour against the same real server.
package storetest

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mongosession/mongosession"
)

// Store is the contract under test, context-first. A face adapts its own
// API to it (fiber's Get/Set/Delete, say).
type Store interface {
	// Find returns the data for token; missing, expired or malformed is
	// found == false with a nil error.
	Find(ctx context.Context, token string) (b []byte, found bool, err error)
	// Commit stores b for token until expiry.
	Commit(ctx context.Context, token string, b []byte, expiry time.Time) error
	// Delete removes token's session; missing is a no-op.
	Delete(ctx context.Context, token string) error
}

// Lister is the optional capability of listing every live session, keyed
// as the store keys them.
type Lister interface {
	All(ctx context.Context) (map[string][]byte, error)
}

// Clearer is the optional capability of deleting every session.
type Clearer interface {
	Clear(ctx context.Context) error
}

// Config describes the store under test.
type Config struct {
	// New returns an empty store for one test. Required.
	New func(t *testing.T) Store
	// EmptyValueIgnored: committing an empty value is a no-op (fiber's
	// Storage contract) rather than storing an empty session.
	EmptyValueIgnored bool
	// ExpiryResolution is the granularity of the expiry the face can
	// express (fiber takes a duration in whole seconds). Default 1 ms.
	ExpiryResolution time.Duration
}

// Engine adapts a *mongosession.Store to Store, Lister and Clearer.
func Engine(s *mongosession.Store) Store { return engine{s} }

type engine struct{ s *mongosession.Store }

func (e engine) Find(ctx context.Context, token string) ([]byte, bool, error) {
	return e.s.FindCtx(ctx, token)
}
func (e engine) Commit(ctx context.Context, token string, b []byte, expiry time.Time) error {
	return e.s.CommitCtx(ctx, token, b, expiry)
}
func (e engine) Delete(ctx context.Context, token string) error { return e.s.DeleteCtx(ctx, token) }
func (e engine) All(ctx context.Context) (map[string][]byte, error) {
	return e.s.AllCtx(ctx)
}
func (e engine) Clear(ctx context.Context) error { return e.s.Clear(ctx) }

// HostileTokens are cookie values an attacker may send: operator-shaped
// strings, paths, NUL bytes, invalid UTF-8, junk far longer than a token.
// Each must be "not found" with a nil error and never touch another
// session.
func HostileTokens() []string {
	return []string{
		"",
		`{"$gt": ""}`,
		"$gt",
		"$where",
		`{"$where": "sleep(1000)"}`,
		"this.a == 1 || true",
		"a.b.c",
		"session.views",
		"__proto__",
		"constructor",
		"..",
		"../../etc/passwd",
		"tok\x00en",
		"\x00",
		"\xff\xfe\xfd",
		"valid\xc3\x28",
		strings.Repeat("A", 10*1024),
		strings.Repeat("é", 300),
		"%00",
		"\r\nSet-Cookie: x=y",
		" ",
		"*",
		".*",
	}
}

// Run runs the whole suite.
func Run(t *testing.T, cfg Config) {
	if cfg.ExpiryResolution == 0 {
		cfg.ExpiryResolution = time.Millisecond
	}
	ctx := context.Background()
	hour := func() time.Time { return time.Now().Add(time.Hour) }

	t.Run("RoundTrip", func(t *testing.T) {
		s := cfg.New(t)
		want := []byte(`{"views":1}`)
		must(t, s.Commit(ctx, "tokenRoundTrip", want, hour()))
		got, found, err := s.Find(ctx, "tokenRoundTrip")
		if err != nil || !found || !bytes.Equal(got, want) {
			t.Fatalf("Find = %q, %v, %v; want %q, true, nil", got, found, err, want)
		}
	})

	t.Run("Missing", func(t *testing.T) {
		s := cfg.New(t)
		got, found, err := s.Find(ctx, "neverCommitted")
		if err != nil || found || got != nil {
			t.Fatalf("Find(missing) = %q, %v, %v; want nil, false, nil", got, found, err)
		}
	})

	t.Run("Overwrite", func(t *testing.T) {
		s := cfg.New(t)
		must(t, s.Commit(ctx, "tokenOverwrite", []byte("one"), hour()))
		must(t, s.Commit(ctx, "tokenOverwrite", []byte("two"), hour()))
		got, found, err := s.Find(ctx, "tokenOverwrite")
		if err != nil || !found || string(got) != "two" {
			t.Fatalf("Find = %q, %v, %v; want two, true, nil", got, found, err)
		}
	})

	t.Run("EveryByte", func(t *testing.T) {
		s := cfg.New(t)
		want := make([]byte, 512)
		for i := range want {
			want[i] = byte(i)
		}
		must(t, s.Commit(ctx, "tokenBytes", want, hour()))
		got, found, err := s.Find(ctx, "tokenBytes")
		if err != nil || !found || !bytes.Equal(got, want) {
			t.Fatalf("Find = %d bytes, %v, %v; want the 512 bytes back", len(got), found, err)
		}
	})

	t.Run("EmptyValue", func(t *testing.T) {
		s := cfg.New(t)
		must(t, s.Commit(ctx, "tokenEmpty", []byte{}, hour()))
		got, found, err := s.Find(ctx, "tokenEmpty")
		if err != nil {
			t.Fatal(err)
		}
		if cfg.EmptyValueIgnored {
			if found {
				t.Fatalf("Find after committing an empty value = %q, found; want not found (ignored)", got)
			}
			return
		}
		if !found || len(got) != 0 {
			t.Fatalf("Find = %q, %v; want empty, true", got, found)
		}
	})

	t.Run("Isolation", func(t *testing.T) {
		s := cfg.New(t)
		must(t, s.Commit(ctx, "tokenA", []byte("a"), hour()))
		must(t, s.Commit(ctx, "tokenB", []byte("b"), hour()))
		must(t, s.Delete(ctx, "tokenA"))
		if _, found, err := s.Find(ctx, "tokenA"); err != nil || found {
			t.Fatalf("deleted session: found=%v err=%v", found, err)
		}
		got, found, err := s.Find(ctx, "tokenB")
		if err != nil || !found || string(got) != "b" {
			t.Fatalf("other session after a delete = %q, %v, %v", got, found, err)
		}
	})

	// A request still in flight when its session was deleted (a logout
	// in another tab, a slow upload with a stolen cookie) commits after
	// the delete: the commit is accepted and writes nothing, and the
	// session stays ended, listed nowhere.
	t.Run("EndedStaysEnded", func(t *testing.T) {
		s := cfg.New(t)
		must(t, s.Commit(ctx, "tokenEnded", []byte("logged in"), hour()))
		must(t, s.Delete(ctx, "tokenEnded"))
		if err := s.Commit(ctx, "tokenEnded", []byte("late write"), hour()); err != nil {
			t.Fatalf("late Commit of an ended session = %v; want nil (it writes nothing)", err)
		}
		if got, found, err := s.Find(ctx, "tokenEnded"); err != nil || found {
			t.Fatalf("ended session after a late Commit = %q, %v, %v; want not found", got, found, err)
		}
		if l, ok := s.(Lister); ok {
			all, err := l.All(ctx)
			must(t, err)
			if len(all) != 0 {
				t.Fatalf("All lists %d sessions after the only one ended", len(all))
			}
		}
		must(t, s.Delete(ctx, "tokenEnded")) // ending it again is a no-op
	})

	t.Run("DeleteMissing", func(t *testing.T) {
		s := cfg.New(t)
		if err := s.Delete(ctx, "neverCommitted"); err != nil {
			t.Fatalf("Delete(missing) = %v; want nil", err)
		}
	})

	t.Run("Expiry", func(t *testing.T) {
		s := cfg.New(t)
		life := 2 * cfg.ExpiryResolution
		if life < 1500*time.Millisecond {
			life = 1500 * time.Millisecond
		}
		must(t, s.Commit(ctx, "tokenExpiring", []byte("soon gone"), time.Now().Add(life)))
		must(t, s.Commit(ctx, "tokenLasting", []byte("stays"), hour()))
		if _, found, err := s.Find(ctx, "tokenExpiring"); err != nil || !found {
			t.Fatalf("before expiry: found=%v err=%v", found, err)
		}
		if l, ok := s.(Lister); ok {
			all, err := l.All(ctx)
			must(t, err)
			if len(all) != 2 {
				t.Fatalf("All before expiry has %d sessions; want 2", len(all))
			}
		}
		time.Sleep(life + cfg.ExpiryResolution + 100*time.Millisecond)
		if got, found, err := s.Find(ctx, "tokenExpiring"); err != nil || found {
			t.Fatalf("after expiry: Find = %q, %v, %v; want not found", got, found, err)
		}
		if l, ok := s.(Lister); ok {
			all, err := l.All(ctx)
			must(t, err)
			if len(all) != 1 {
				t.Fatalf("All after expiry has %d sessions; want 1 (the expired one is never listed)", len(all))
			}
			for _, v := range all {
				if string(v) != "stays" {
					t.Fatalf("All after expiry = %q; want the lasting session", v)
				}
			}
		}
	})

	t.Run("HostileTokens", func(t *testing.T) {
		s := cfg.New(t)
		must(t, s.Commit(ctx, "victimToken", []byte("secret"), hour()))
		for i, tok := range HostileTokens() {
			got, found, err := s.Find(ctx, tok)
			if err != nil || found || got != nil {
				t.Errorf("hostile token %d: Find = %q, %v, %v; want nil, false, nil", i, got, found, err)
			}
			if err := s.Delete(ctx, tok); err != nil {
				t.Errorf("hostile token %d: Delete = %v; want nil", i, err)
			}
		}
		got, found, err := s.Find(ctx, "victimToken")
		if err != nil || !found || string(got) != "secret" {
			t.Fatalf("victim session after hostile tokens = %q, %v, %v; want it intact", got, found, err)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		s := cfg.New(t)
		const n = 8
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				tok := fmt.Sprintf("tokenConcurrent%d", i)
				want := []byte(fmt.Sprintf("value %d", i))
				if err := s.Commit(ctx, tok, want, hour()); err != nil {
					errs <- err
					return
				}
				got, found, err := s.Find(ctx, tok)
				if err != nil || !found || !bytes.Equal(got, want) {
					errs <- fmt.Errorf("session %d: Find = %q, %v, %v", i, got, found, err)
				}
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})

	if _, ok := cfg.New(t).(Clearer); ok {
		t.Run("Clear", func(t *testing.T) {
			s := cfg.New(t)
			must(t, s.Commit(ctx, "tokenC1", []byte("1"), hour()))
			must(t, s.Commit(ctx, "tokenC2", []byte("2"), hour()))
			must(t, s.(Clearer).Clear(ctx))
			for _, tok := range []string{"tokenC1", "tokenC2"} {
				if _, found, err := s.Find(ctx, tok); err != nil || found {
					t.Fatalf("after Clear: %s found=%v err=%v", tok, found, err)
				}
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
