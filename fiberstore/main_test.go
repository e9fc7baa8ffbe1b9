package fiberstore_test

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"testing"

	"github.com/gofiber/fiber/v3"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/fiberstore"
	"github.com/mongosession/mongosession/internal/mongotest"
)

// fiberstore.Storage must keep satisfying fiber v3's Storage interface.
var _ fiber.Storage = (*fiberstore.Storage)(nil)

func TestMain(m *testing.M) { os.Exit(mongotest.Main(m)) }

// newStore opens a store on a fresh collection of the test server and
// closes it when the test ends. opts.URI, Database, Collection and Logger
// are filled in unless set.
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

// newStorage is newStore behind a fiberstore.Storage.
func newStorage(t testing.TB, opts mongosession.Options) *fiberstore.Storage {
	t.Helper()
	return fiberstore.New(newStore(t, opts))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimSpace(p)))
	return len(p), nil
}

// quietLogger sends the store's log lines to the test log.
func quietLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, nil))
}
