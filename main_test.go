package mongosession_test

import (
	"os"
	"testing"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/mongotest"
)

func TestMain(m *testing.M) { os.Exit(mongotest.Main(m)) }

// newStore is mongotest.NewStore: a store on a fresh collection of the
// test server, cleared and closed when the test ends.
func newStore(t testing.TB, opts mongosession.Options) *mongosession.Store {
	t.Helper()
	return mongotest.NewStore(t, opts)
}
