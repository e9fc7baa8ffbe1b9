package mongosession_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
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

// commandLog records the commands a client sends, by name, with their
// bodies, so tests can prove what goes over the wire.
type commandLog struct {
	mu   sync.Mutex
	cmds []startedCommand
}

type startedCommand struct {
	Name string
	Body bson.Raw
}

func (l *commandLog) monitor() *event.CommandMonitor {
	return &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		switch e.CommandName {
		case "hello", "isMaster", "ismaster", "ping", "endSessions", "saslStart", "saslContinue", "buildInfo":
			return // handshakes and heartbeats are not operations
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		l.cmds = append(l.cmds, startedCommand{Name: e.CommandName, Body: append(bson.Raw(nil), e.Command...)})
	}}
}

// Names returns the names of the commands sent since the last Reset.
func (l *commandLog) Names() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	names := make([]string, len(l.cmds))
	for i, c := range l.cmds {
		names[i] = c.Name
	}
	return names
}

// Commands returns the commands sent since the last Reset.
func (l *commandLog) Commands() []startedCommand {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]startedCommand(nil), l.cmds...)
}

func (l *commandLog) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cmds = nil
}

// newMonitoredStore is newStore with a command log on the store's client.
func newMonitoredStore(t testing.TB, opts mongosession.Options) (*mongosession.Store, *commandLog) {
	t.Helper()
	log := &commandLog{}
	opts.ClientOptions = options.Client().SetMonitor(log.monitor())
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
