package mongosession_test

import (
	"context"
	"os"
	"testing"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/mongotest"
)

func TestMain(m *testing.M) { os.Exit(mongotest.Main(m)) }

// newStore opens a store on a fresh collection of the test server and
// closes it when the test ends. opts.URI, Database and Collection are
// filled in unless set.
func newStore(t testing.TB, opts mongosession.Options) *mongosession.Store {
	t.Helper()
	if opts.URI == "" && opts.Client == nil {
		opts.URI = mongotest.URI(t)
	}
	if opts.Database == "" {
		opts.Database = mongotest.Database
	}
	if opts.Collection == "" {
		opts.Collection = mongotest.Collection(t)
	}
	if opts.Logger == nil {
		opts.Logger = quietLogger(t)
	}
	s, err := mongosession.New(context.Background(), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		_ = s.Clear(context.Background())
		_ = s.Close()
	})
	return s
}
