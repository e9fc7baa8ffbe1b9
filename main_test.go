package mongosession_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/mongotest"
)

func TestMain(m *testing.M) { os.Exit(mongotest.Main(examplesEnv{m})) }

// examplesEnv runs the tests with the environment the examples
// (example_test.go) read, as an application reads its configuration:
// MONGODB_URI names the test database, SESSIONS_COLLECTION a collection
// of this run's own, dropped when the tests end. Two runs on one server
// then never share the examples' sessions, and neither writes to a
// database an application may use.
type examplesEnv struct{ m *testing.M }

func (e examplesEnv) Run() int {
	uri := os.Getenv("MONGODB_URI") // mongotest.Main set it if it was not
	exURI, err := mongotest.WithDatabase(uri, mongotest.Database)
	if err != nil {
		fmt.Fprintln(os.Stderr, "MONGODB_URI:", err)
		return 1
	}
	coll := mongotest.RunCollection("examples")
	os.Setenv("MONGODB_URI", exURI)
	os.Setenv("SESSIONS_COLLECTION", coll)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if c, err := mongo.Connect(options.Client().ApplyURI(exURI)); err == nil {
			_ = c.Database(mongotest.Database).Collection(coll).Drop(ctx)
			_ = c.Disconnect(ctx)
		}
	}()
	return e.m.Run()
}

// newStore is mongotest.NewStore: a store on a fresh collection of the
// test server, cleared and closed when the test ends.
func newStore(t testing.TB, opts mongosession.Options) *mongosession.Store {
	t.Helper()
	return mongotest.NewStore(t, opts)
}
