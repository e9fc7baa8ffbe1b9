package fiberstore_test

import (
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

// newStore is mongotest.NewStore: a store on a fresh collection of the
// test server, cleared and closed when the test ends.
func newStore(t testing.TB, opts mongosession.Options) *mongosession.Store {
	t.Helper()
	return mongotest.NewStore(t, opts)
}

// newStorage is newStore behind a fiberstore.Storage.
func newStorage(t testing.TB, opts mongosession.Options) *fiberstore.Storage {
	t.Helper()
	return fiberstore.New(newStore(t, opts))
}
