package mongosession_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/mongotest"
)

// logBuffer collects log output, safe for concurrent writers, and echoes it
// to the test log.
type logBuffer struct {
	t  testing.TB
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *logBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t.Log(string(bytes.TrimSpace(p)))
	return w.b.Write(p)
}

func (w *logBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// newMonitoredStore is newStore with a command log on the store's client:
// every command but handshakes and heartbeats, with its body.
func newMonitoredStore(t testing.TB, opts mongosession.Options) (*mongosession.Store, *mongotest.Commands) {
	t.Helper()
	log := &mongotest.Commands{}
	opts.ClientOptions = options.Client().SetMonitor(log.Monitor())
	return newStore(t, opts), log
}

// rawCollection returns the collection behind a store, through a client of
// the test's own, for reading and writing documents as they are stored.
func rawCollection(t testing.TB, s *mongosession.Store) *mongo.Collection {
	t.Helper()
	c, err := mongo.Connect(options.Client().ApplyURI(mongotest.URI(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
	return c.Database(s.Collection().Database().Name()).Collection(s.Collection().Name())
}

func joined(names []string) string { return strings.Join(names, ",") }
