package mongotest

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/servererr"
)

// LogWriter is an io.Writer that sends each write, its surrounding space
// trimmed, to T's log. It never fails.
type LogWriter struct{ T testing.TB }

// Write logs p on w.T and reports it all written.
func (w LogWriter) Write(p []byte) (int, error) {
	w.T.Log(string(bytes.TrimSpace(p)))
	return len(p), nil
}

// Logger returns a text logger at the default level (Info) whose lines go
// to tb's log, so that a store's warnings show only with -v or on failure.
func Logger(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(LogWriter{tb}, nil))
}

// SetupContext is the context for a New that sets up a test rather than
// being what it measures: a minute's deadline, so that New's connecting and
// index work is not bounded by a short Options.Timeout the test sets for
// the operations it does measure (on a loaded 2-core machine, a 300 ms
// Timeout can fail the setup itself). It ends with the test.
func SetupContext(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

// NewStore opens a store on the test server and, when the test ends,
// drops its collection and closes it. opts.URI (unless opts.Client is set),
// Database, Collection (a fresh one, see Collection) and Logger (see
// Logger) are filled in unless set. A failure to open fails the test.
func NewStore(tb testing.TB, opts mongosession.Options) *mongosession.Store {
	tb.Helper()
	if opts.URI == "" && opts.Client == nil {
		opts.URI = URI(tb)
	}
	if opts.Database == "" {
		opts.Database = Database
	}
	if opts.Collection == "" {
		opts.Collection = Collection(tb)
	}
	if opts.Logger == nil {
		opts.Logger = Logger(tb)
	}
	s, err := mongosession.New(SetupContext(tb), opts)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(func() {
		Drop(tb, s.Collection())
		_ = s.Close()
	})
	return s
}

// Drop drops coll, a test's collection, so that runs on a shared server
// leave no empty collections (and their indexes) behind. When coll's
// client is already disconnected (the test closed a store that owned it),
// it drops the collection through a client of its own. Failures are
// logged, not fatal: the test has ended.
func Drop(tb testing.TB, coll *mongo.Collection) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := coll.Drop(ctx)
	if errors.Is(err, mongo.ErrClientDisconnected) {
		DropNamed(tb, coll.Database().Name(), coll.Name())
		return
	}
	if err != nil {
		tb.Logf("mongotest: dropping %s: %v", coll.Name(), err)
	}
}

// NewRecordedStore is NewStore through a client of its own whose commands
// cmds records: the client connects to URI, replaces opts.Client and is
// disconnected when the test ends, after the store is dropped and closed.
// The commands New sent (index builds and the like) are taken from cmds
// before it returns. A failure to connect or to open fails the test.
func NewRecordedStore(tb testing.TB, opts mongosession.Options, cmds *Commands) *mongosession.Store {
	tb.Helper()
	client, err := mongo.Connect(options.Client().ApplyURI(URI(tb)).SetMonitor(cmds.Monitor()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	opts.Client = client
	s := NewStore(tb, opts)
	cmds.Take()
	return s
}

// CountDocuments returns how many documents of s's collection match
// filter, as the server counts them; an error fails the test.
func CountDocuments(tb testing.TB, s *mongosession.Store, filter any) int64 {
	tb.Helper()
	n, err := s.Collection().CountDocuments(context.Background(), filter)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// DropNamed drops collection coll of database db on the server URI
// names, through a client of its own, connected for the drop and
// disconnected after it (no goroutine outlives it, for the tests that
// check none does), so that it works after the test's stores and clients
// are closed. A collection that does not exist is no error. Without Main
// (uri unset) it does nothing. Failures are logged, not fatal: the test
// has ended.
func DropNamed(tb testing.TB, db, coll string) {
	if uri == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err == nil {
		err = c.Database(db).Collection(coll).Drop(ctx)
		_ = c.Disconnect(ctx)
	}
	if err != nil {
		tb.Logf("mongotest: dropping %s: %v", coll, err)
	}
}

// RefusesLargeDocuments reports whether the server refuses an update that
// makes a document of coll larger than 16 MiB, as MongoDB does (FerretDB
// 1.x stores it). It writes 18 MiB, unbounded by any store's Timeout, and
// fails the test on any error but the server's too-large refusal.
func RefusesLargeDocuments(tb testing.TB, coll *mongo.Collection) bool {
	tb.Helper()
	ctx := context.Background()
	id := bson.D{{Key: "_id", Value: "large-document-probe"}}
	if _, err := coll.InsertOne(ctx, append(id, bson.E{Key: "a", Value: strings.Repeat("a", 9<<20)})); err != nil {
		tb.Fatal(err)
	}
	defer coll.DeleteOne(ctx, id)
	_, err := coll.UpdateOne(ctx, id, bson.D{{Key: "$set", Value: bson.D{{Key: "b", Value: strings.Repeat("b", 9<<20)}}}})
	if err != nil && !servererr.Has(err, servererr.DocumentTooLarge, servererr.UpdatedDocumentTooLarge) {
		tb.Fatalf("probing whether the server refuses documents over 16 MiB: %v", err)
	}
	return err != nil
}
