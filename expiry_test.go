package mongosession_test

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/mongotest"
)

// ttlSupported reports whether the server creates TTL indexes, by trying
// on a scratch collection. FerretDB 1.x answers NotImplemented (238).
func ttlSupported(t *testing.T) bool {
	t.Helper()
	c, err := mongo.Connect(options.Client().ApplyURI(mongotest.URI(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(ctx)
	coll := c.Database(mongotest.Database).Collection(mongotest.Collection(t) + "_probe")
	defer coll.Drop(ctx)
	_, err = coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "e", Value: 1}}, Options: options.Index().SetExpireAfterSeconds(0)})
	return err == nil
}

func TestTTLIndexSpec(t *testing.T) {
	s, log := newMonitoredStore(t, mongosession.Options{ExpireAfter: 30 * time.Second, ExpiresKey: "expiresAt"})
	var create bson.Raw
	for _, c := range log.All() {
		if c.Name == "createIndexes" {
			create = c.Body
		}
	}
	if create == nil {
		t.Fatalf("New sent %v; want a createIndexes", log.Names())
	}
	idx := create.Lookup("indexes").Array().Index(0).Document()
	if key := idx.Lookup("key").Document().String(); key != `{"expiresAt": {"$numberInt":"1"}}` {
		t.Errorf("index key = %s; want {expiresAt: 1}", key)
	}
	if eas, ok := idx.Lookup("expireAfterSeconds").AsInt64OK(); !ok || eas != 30 {
		t.Errorf("expireAfterSeconds = %v; want 30", idx.Lookup("expireAfterSeconds"))
	}
	if !ttlSupported(t) {
		if !s.Backend().Reaping() {
			t.Fatal("the server has no TTL indexes, yet the store runs no reaper")
		}
		t.Log("the server has no TTL indexes (FerretDB 1.x answers NotImplemented): the spec was checked on the wire and the store fell back to its reaper; the stored index can only be checked on a server with TTL indexes")
		return
	}
	if s.Backend().Reaping() {
		t.Fatal("TTL index created, yet the store runs a reaper too")
	}
	specs, err := rawCollection(t, s).Indexes().ListSpecifications(ctx)
	must(t, err)
	for _, sp := range specs {
		if sp.Name == "expiresAt_1" {
			if sp.ExpireAfterSeconds == nil || *sp.ExpireAfterSeconds != 30 {
				t.Fatalf("stored TTL index expireAfterSeconds = %v; want 30", sp.ExpireAfterSeconds)
			}
			return
		}
	}
	t.Fatalf("no expiresAt_1 index among %v", specs)
}

func TestTTLIndexConflictRepaired(t *testing.T) {
	if !ttlSupported(t) {
		t.Skip("the server has no TTL indexes (FerretDB 1.x): nothing to conflict with")
	}
	coll := mongotest.Collection(t)
	c, err := mongo.Connect(options.Client().ApplyURI(mongotest.URI(t)))
	must(t, err)
	defer c.Disconnect(ctx)
	// An administrator's index on the same key, under a name of their own.
	_, err = c.Database(mongotest.Database).Collection(coll).Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys: bson.D{{Key: "expires", Value: 1}}, Options: options.Index().SetExpireAfterSeconds(3600).SetName("sessions_ttl")})
	must(t, err)
	var reported []error
	s, log := newMonitoredStore(t, mongosession.Options{Collection: coll, OnError: func(err error) { reported = append(reported, err) }})
	// collMod names the index (FerretDB 2 over DocumentDB refuses the
	// keyPattern form; MongoDB accepts both).
	var collMod bson.Raw
	for _, c := range log.All() {
		if c.Name == "collMod" {
			collMod = c.Body
		}
	}
	if collMod == nil {
		t.Fatalf("New sent %v; want a collMod (reported: %v)", log.Names(), reported)
	}
	idx := collMod.Lookup("index").Document()
	if name, _ := idx.Lookup("name").StringValueOK(); name != "sessions_ttl" {
		t.Fatalf("collMod index = %s; want it named sessions_ttl", idx)
	}
	if _, err := idx.LookupErr("keyPattern"); err == nil {
		t.Fatalf("collMod index = %s; want no keyPattern", idx)
	}
	specs, err := rawCollection(t, s).Indexes().ListSpecifications(ctx)
	must(t, err)
	for _, sp := range specs {
		if sp.Name == "sessions_ttl" {
			if sp.ExpireAfterSeconds == nil || *sp.ExpireAfterSeconds != 0 {
				t.Fatalf("conflicting index not repaired: expireAfterSeconds = %v (reported: %v)", sp.ExpireAfterSeconds, reported)
			}
			return
		}
	}
	t.Fatalf("no sessions_ttl index among %v (reported: %v)", specs, reported)
}

// TestTTLIndexPlainConverted: an administrator's plain index on the expiry
// field is turned into a TTL index with collMod (MongoDB 5.1 and later),
// and the log says it was converted, not that an expireAfterSeconds
// changed.
func TestTTLIndexPlainConverted(t *testing.T) {
	if !ttlSupported(t) {
		t.Skip("the server has no TTL indexes (FerretDB 1.x): nothing to convert to")
	}
	coll := mongotest.Collection(t)
	c, err := mongo.Connect(options.Client().ApplyURI(mongotest.URI(t)))
	must(t, err)
	defer c.Disconnect(ctx)
	db := c.Database(mongotest.Database)
	// Whether the server converts at all, on a scratch collection: MongoDB
	// before 5.1 refuses expireAfterSeconds on a non-TTL index.
	probe := db.Collection(coll + "_probe")
	t.Cleanup(func() { _ = probe.Drop(context.Background()) })
	_, err = probe.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "e", Value: 1}}})
	must(t, err)
	if err := db.RunCommand(ctx, bson.D{{Key: "collMod", Value: coll + "_probe"}, {Key: "index", Value: bson.D{
		{Key: "name", Value: "e_1"}, {Key: "expireAfterSeconds", Value: 60}}}}).Err(); err != nil {
		t.Skipf("the server cannot turn a plain index into a TTL one with collMod (MongoDB before 5.1): %v", err)
	}
	_, err = db.Collection(coll).Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys: bson.D{{Key: "expires", Value: 1}}, Options: options.Index().SetName("by_expiry")})
	must(t, err)
	logs := &logBuffer{t: t}
	var mu sync.Mutex
	var reported []error
	s := newStore(t, mongosession.Options{Collection: coll, Logger: slog.New(slog.NewTextHandler(logs, nil)),
		OnError: func(err error) { mu.Lock(); reported = append(reported, err); mu.Unlock() }})
	mu.Lock()
	if len(reported) > 0 {
		t.Fatalf("reported %v; want the plain index converted", reported)
	}
	mu.Unlock()
	if s.Backend().Reaping() {
		t.Fatal("the index was converted, yet the store runs a reaper too")
	}
	specs, err := rawCollection(t, s).Indexes().ListSpecifications(ctx)
	must(t, err)
	found := false
	for _, sp := range specs {
		if sp.Name == "by_expiry" {
			found = true
			if sp.ExpireAfterSeconds == nil || *sp.ExpireAfterSeconds != 0 {
				t.Fatalf("by_expiry expireAfterSeconds = %v; want 0", sp.ExpireAfterSeconds)
			}
		}
	}
	if !found {
		t.Fatalf("no by_expiry index among %v", specs)
	}
	if out := logs.String(); !strings.Contains(out, "turned the existing non-TTL index") || strings.Contains(out, "changed the TTL index") {
		t.Fatalf("log = %q; want it to say a non-TTL index was converted", out)
	}
}

// TestTTLIndexConflictWithoutCollModRight: an application user with the
// readWrite role may create indexes but not run collMod (that is dbAdmin's).
// With an administrator's index on the expiry field in the way, New's
// collMod is refused behind the createIndexes conflict; the store warns and
// carries on, as documented, instead of reporting an error. It needs a
// server that enforces authorization and a MONGODB_URI allowed to create
// users.
func TestTTLIndexConflictWithoutCollModRight(t *testing.T) {
	if !ttlSupported(t) {
		t.Skip("the server has no TTL indexes (FerretDB 1.x): nothing to conflict with")
	}
	coll := mongotest.Collection(t)
	admin, err := mongo.Connect(options.Client().ApplyURI(mongotest.URI(t)))
	must(t, err)
	defer admin.Disconnect(ctx)
	db := admin.Database(mongotest.Database)
	user, pwd := coll, rand.Text()
	if err := db.RunCommand(ctx, bson.D{{Key: "createUser", Value: user}, {Key: "pwd", Value: pwd},
		{Key: "roles", Value: bson.A{bson.D{{Key: "role", Value: "readWrite"}, {Key: "db", Value: mongotest.Database}}}}}).Err(); err != nil {
		t.Skipf("cannot create a readWrite user with MONGODB_URI's rights: %v", err)
	}
	t.Cleanup(func() { _ = db.RunCommand(context.Background(), bson.D{{Key: "dropUser", Value: user}}).Err() })
	_, err = db.Collection(coll).Indexes().CreateOne(ctx, mongo.IndexModel{
		Keys: bson.D{{Key: "expires", Value: 1}}, Options: options.Index().SetExpireAfterSeconds(3600).SetName("sessions_ttl")})
	must(t, err)
	app, err := mongo.Connect(options.Client().ApplyURI(mongotest.URI(t)).
		SetAuth(options.Credential{Username: user, Password: pwd, AuthSource: mongotest.Database}))
	must(t, err)
	t.Cleanup(func() { _ = app.Disconnect(context.Background()) })
	logs := &logBuffer{t: t}
	var mu sync.Mutex
	var reported []error
	s := newStore(t, mongosession.Options{Client: app, Collection: coll, Logger: slog.New(slog.NewTextHandler(logs, nil)),
		OnError: func(err error) { mu.Lock(); reported = append(reported, err); mu.Unlock() }})
	specs, err := db.Collection(coll).Indexes().ListSpecifications(ctx)
	must(t, err)
	for _, sp := range specs {
		if sp.Name == "sessions_ttl" && sp.ExpireAfterSeconds != nil && *sp.ExpireAfterSeconds == 0 {
			t.Skip("the server let a readWrite user run collMod: it does not enforce authorization")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reported) > 0 {
		t.Fatalf("reported %v; want a warning only", reported)
	}
	if !strings.Contains(logs.String(), "not allowed to create the TTL index or to change the existing index") {
		t.Fatalf("log = %q; want the warning that the index could not be changed", logs.String())
	}
	must(t, s.CommitCtx(ctx, "tok", []byte("v"), hour()))
	if _, found, err := s.FindCtx(ctx, "tok"); err != nil || !found {
		t.Fatalf("Find = %v, %v; want the session", found, err)
	}
}

func TestReaperDeletesExpired(t *testing.T) {
	for _, mode := range []mongosession.AutoRemove{mongosession.AutoRemoveInterval, mongosession.AutoRemoveTTL} {
		t.Run(mode.String(), func(t *testing.T) {
			s := newStore(t, mongosession.Options{AutoRemove: mode, CleanupInterval: 200 * time.Millisecond})
			if mode == mongosession.AutoRemoveTTL && ttlSupported(t) {
				// The reaper is only the fallback; the TTL monitor's
				// deletions (every 60 s) are the server's to test.
				if s.Backend().Reaping() {
					t.Fatal("the server has TTL indexes, yet AutoRemoveTTL runs a reaper")
				}
				return
			}
			if !s.Backend().Reaping() {
				t.Fatal("no reaper running")
			}
			must(t, s.CommitCtx(ctx, "expired", []byte("x"), time.Now().Add(-time.Minute)))
			must(t, s.CommitCtx(ctx, "soon", []byte("x"), time.Now().Add(300*time.Millisecond)))
			must(t, s.CommitCtx(ctx, "live", []byte("x"), hour()))
			raw := rawCollection(t, s)
			deadline := time.Now().Add(300*time.Millisecond + 3*200*time.Millisecond + time.Second)
			for {
				n, err := raw.CountDocuments(ctx, bson.D{})
				must(t, err)
				if n == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%d raw documents remain; the reaper should leave only the live one", n)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if _, found, err := s.FindCtx(ctx, "live"); err != nil || !found {
				t.Fatalf("the reaper touched a live session: %v %v", found, err)
			}
		})
	}
}

func TestAutoRemoveOffCreatesNothing(t *testing.T) {
	s, log := newMonitoredStore(t, mongosession.Options{AutoRemove: mongosession.AutoRemoveOff})
	for _, n := range log.Names() {
		if n == "createIndexes" {
			t.Fatal("AutoRemoveOff created an index")
		}
	}
	if s.Backend().Reaping() {
		t.Fatal("AutoRemoveOff runs a reaper")
	}
}

func TestDeleteExpired(t *testing.T) {
	s := newStore(t, mongosession.Options{AutoRemove: mongosession.AutoRemoveOff})
	must(t, s.CommitCtx(ctx, "e1", []byte("x"), time.Now().Add(-time.Second)))
	must(t, s.CommitCtx(ctx, "l1", []byte("x"), hour()))
	n, err := s.DeleteExpired(ctx)
	if err != nil || n != 1 {
		t.Fatalf("DeleteExpired = %d, %v; want 1", n, err)
	}
}

func TestReaperFailureReported(t *testing.T) {
	srv, err := mongotest.StartServer(t.TempDir(), "127.0.0.1:0")
	must(t, err)
	defer srv.Stop()
	var mu sync.Mutex
	var reported []error
	s, err := mongosession.New(mongotest.SetupContext(t), mongosession.Options{
		URI: srv.URI, Collection: "reaped", AutoRemove: mongosession.AutoRemoveInterval,
		CleanupInterval: 100 * time.Millisecond, Timeout: 300 * time.Millisecond, Logger: mongotest.Logger(t),
		OnError: func(err error) { mu.Lock(); reported = append(reported, err); mu.Unlock() },
	})
	must(t, err)
	defer s.Close()
	srv.Stop()
	deadline := time.Now().Add(3 * time.Second)
	for {
		mu.Lock()
		n := len(reported)
		var first error
		if n > 0 {
			first = reported[0]
		}
		mu.Unlock()
		if n > 0 {
			if !errors.Is(first, mongosession.ErrUnavailable) {
				t.Fatalf("reported %v; want an error wrapping ErrUnavailable", first)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the reaper's failures never reached OnError")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCloseFromOnErrorOfReaper: an application that shuts the store down
// when a background failure reaches OnError calls Close on the reaper's own
// goroutine; Close must return, and leave no goroutine behind.
func TestCloseFromOnErrorOfReaper(t *testing.T) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	closed := make(chan error, 1)
	var s *mongosession.Store
	var once sync.Once
	ready := make(chan struct{}) // s is set
	s, err := mongosession.New(dctx, mongosession.Options{
		URI: mongotest.URI(t), Collection: mongotest.Collection(t), Logger: mongotest.Logger(t),
		AutoRemove: mongosession.AutoRemoveInterval, CleanupInterval: 20 * time.Millisecond,
		// New's own work is bounded by dctx; each reaper pass gets 1 ns
		// and so fails, which reaches OnError.
		Timeout: time.Nanosecond,
		OnError: func(err error) { once.Do(func() { <-ready; closed <- s.Close() }) },
	})
	must(t, err)
	close(ready)
	select {
	case err := <-closed:
		must(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Close called from OnError on the reaper's goroutine has not returned")
	}
	if !s.Backend().Closed() {
		t.Fatal("the store is not closed")
	}
	checkNoLeak(t)
}
