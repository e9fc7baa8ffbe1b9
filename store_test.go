package mongosession_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/mongotest"
)

var ctx = context.Background()

func hour() time.Time { return time.Now().Add(time.Hour) }

func TestOptionsNameTheField(t *testing.T) {
	client, err := mongo.Connect(options.Client().ApplyURI(mongotest.URI(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(ctx)
	uri := mongotest.URI(t)
	cases := []struct {
		field string
		opts  mongosession.Options
	}{
		{"URI", mongosession.Options{Collection: "c"}},
		{"URI", mongosession.Options{URI: uri, Client: client, Collection: "c"}},
		{"URI", mongosession.Options{URI: "postgres://nope", Collection: "c"}},
		{"URI", mongosession.Options{URI: "mongodb://host:notaport/db", Collection: "c"}},
		{"Collection", mongosession.Options{URI: uri}},
		{"Collection", mongosession.Options{URI: uri, Collection: "$bad"}},
		{"Database", mongosession.Options{URI: uri, Collection: "c", Database: "a/b"}},
		{"Expires", mongosession.Options{URI: uri, Collection: "c", Expires: -time.Second}},
		{"ExpiresKey", mongosession.Options{URI: uri, Collection: "c", ExpiresKey: "a.b"}},
		{"ExpiresKey", mongosession.Options{URI: uri, Collection: "c", ExpiresKey: "_id"}},
		{"ExpireAfter", mongosession.Options{URI: uri, Collection: "c", ExpireAfter: -time.Second}},
		{"ExpireAfter", mongosession.Options{URI: uri, Collection: "c", ExpireAfter: 1500 * time.Millisecond}},
		{"AutoRemove", mongosession.Options{URI: uri, Collection: "c", AutoRemove: 7}},
		{"CleanupInterval", mongosession.Options{URI: uri, Collection: "c", CleanupInterval: -1}},
		{"Timeout", mongosession.Options{URI: uri, Collection: "c", Timeout: -1}},
		{"ClientOptions", mongosession.Options{Client: client, Collection: "c", ClientOptions: options.Client()}},
		{"MigratePlainIDs", mongosession.Options{URI: uri, Collection: "c", PlainIDs: true, MigratePlainIDs: true}},
		{"EndedFor", mongosession.Options{URI: uri, Collection: "c", EndedFor: -time.Second}},
		{"EncryptionKeys", mongosession.Options{URI: uri, Collection: "c", EncryptionKeys: [][]byte{[]byte("short")}}},
	}
	for _, c := range cases {
		s, err := mongosession.New(ctx, c.opts)
		if err == nil {
			s.Close()
			t.Errorf("%s: New succeeded; want an error naming Options.%s", c.field, c.field)
			continue
		}
		var oe *mongosession.OptionError
		if !errors.As(err, &oe) || oe.Field != c.field || !errors.Is(err, mongosession.ErrInvalidOptions) {
			t.Errorf("%s: New = %v; want an *OptionError for Options.%s", c.field, err, c.field)
		}
		if !strings.Contains(err.Error(), "Options."+c.field) {
			t.Errorf("%s: error %q does not name the field", c.field, err)
		}
	}
}

// TestOptionErrorHidesOptionValues: the driver quotes a bad option's
// value in its message; an option value can be a credential.
func TestOptionErrorHidesOptionValues(t *testing.T) {
	for _, uri := range []string{
		"mongodb://host/db?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:s3cr3tT0ken%zz",
		"mongodb://host/db?tlsCertificateKeyFilePassword=s3cr3tT0ken&maxPoolSize=s3cr3tT0ken",
		"mongodb://us%zzer:s3cr3tT0ken@host/db",
	} {
		_, err := mongosession.New(ctx, mongosession.Options{URI: uri, Collection: "c"})
		var oe *mongosession.OptionError
		if !errors.As(err, &oe) || oe.Field != "URI" {
			t.Errorf("New(%q) = %v; want an OptionError for URI", uri, err)
			continue
		}
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("New(%q) = %q; the secret is in the error", uri, err)
		}
	}
	// An option's name stays, so the message still says what is wrong.
	_, err := mongosession.New(ctx, mongosession.Options{URI: "mongodb://host/db?maxPoolSize=lots", Collection: "c"})
	if err == nil || !strings.Contains(err.Error(), "maxPoolSize") {
		t.Errorf("New = %v; want the bad option named", err)
	}
}

func TestOptionErrorHidesPassword(t *testing.T) {
	_, err := mongosession.New(ctx, mongosession.Options{URI: "mongodb://user:hunter2@host:badport/db", Collection: "c"})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("New = %v; want an error that does not quote the password", err)
	}
}

func TestNewFailsFastWhenUnreachable(t *testing.T) {
	start := time.Now()
	s, err := mongosession.New(ctx, mongosession.Options{
		URI:        "mongodb://bad.host:27000/db?connectTimeoutMS=10&serverSelectionTimeoutMS=500",
		Collection: "sessions",
	})
	elapsed := time.Since(start)
	if err == nil {
		s.Close()
		t.Fatal("New succeeded against an unreachable host")
	}
	if !errors.Is(err, mongosession.ErrUnavailable) {
		t.Errorf("error %v does not wrap ErrUnavailable", err)
	}
	if !strings.Contains(err.Error(), "connecting to MongoDB") {
		t.Errorf("error %q does not say what failed", err)
	}
	if elapsed > 3*time.Second {
		t.Errorf("New took %v; the URI allows 500 ms of server selection", elapsed)
	}
	checkNoLeak(t)
}

func TestNewBoundedByTimeoutWithoutURIOptions(t *testing.T) {
	start := time.Now()
	// Port 1 on loopback refuses connections; without URI timeouts the
	// driver would select servers for 30 s. Options.Timeout bounds New.
	s, err := mongosession.New(ctx, mongosession.Options{URI: "mongodb://127.0.0.1:1/db", Collection: "sessions", Timeout: time.Second})
	if err == nil {
		s.Close()
		t.Fatal("New succeeded against a closed port")
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("New took %v with Timeout 1s", el)
	}
	if !errors.Is(err, mongosession.ErrUnavailable) {
		t.Errorf("error %v does not wrap ErrUnavailable", err)
	}
	checkNoLeak(t)
}

// TestNewCallerDeadlineIsUnavailable: when ctx's deadline is what ends
// the wait for the server, New's error still says "unavailable" (so that a
// caller retrying on ErrUnavailable retries) as well as the deadline.
func TestNewCallerDeadlineIsUnavailable(t *testing.T) {
	dctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	s, err := mongosession.New(dctx, mongosession.Options{URI: "mongodb://127.0.0.1:1/db?serverSelectionTimeoutMS=10000", Collection: "sessions"})
	if err == nil {
		s.Close()
		t.Fatal("New succeeded against a closed port")
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("New took %v with a 500 ms deadline", el)
	}
	if !errors.Is(err, mongosession.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("New = %v; want ErrUnavailable and context.DeadlineExceeded", err)
	}
	checkNoLeak(t)
}

// TestSessionsReadFromPrimary: a client passed in Options.Client may
// prefer secondaries for the application's own reads; the store's reads
// still go to the primary, or a lagging secondary could undo a logout.
//
// What the driver puts on the wire for a primary read depends on the
// topology (operation.go, createReadPref): nothing to a standalone server
// or a mongos, nothing to a replica set (OP_MSG never sends "primary"),
// and primaryPreferred to a single replica-set member reached with
// directConnection (topology Single), so that it answers even as a
// secondary. Any other mode is a read that may go to a secondary.
func TestSessionsReadFromPrimary(t *testing.T) {
	log := &mongotest.Commands{}
	var mu sync.Mutex
	topology := "Unknown"
	client, err := mongo.Connect(options.Client().ApplyURI(mongotest.URI(t)).
		SetReadPreference(readpref.SecondaryPreferred()).SetMonitor(log.Monitor()).
		SetServerMonitor(&event.ServerMonitor{TopologyDescriptionChanged: func(e *event.TopologyDescriptionChangedEvent) {
			mu.Lock()
			topology = e.NewDescription.Kind
			mu.Unlock()
		}}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	// The driver shows a read preference on the wire only to replica sets
	// and mongos, never to a standalone server: first see whether the raw
	// client's own read carries it here.
	_ = client.Database("admin").Collection("none").FindOne(ctx, bson.D{}).Err()
	sent := false
	for _, c := range log.Take() {
		if _, err := c.Body.LookupErr("$readPreference"); err == nil {
			sent = true
		}
	}
	if !sent {
		t.Skip("the driver sends no $readPreference to a standalone server: the store's choice is not visible on the wire here (run with MONGODB_URI naming a replica set)")
	}
	s := newStore(t, mongosession.Options{Client: client})
	must(t, s.CommitCtx(ctx, "rp", []byte("v"), hour()))
	log.Reset()
	if _, _, err := s.FindCtx(ctx, "rp"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Count(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	single := topology == "Single"
	kind := topology
	mu.Unlock()
	seen := map[string]bool{}
	for _, c := range log.Take() {
		if coll, _ := c.Body.Lookup(c.Name).StringValueOK(); coll != s.Collection().Name() {
			continue
		}
		seen[c.Name] = true
		rp, err := c.Body.LookupErr("$readPreference")
		if err != nil {
			continue // primary, as the driver sends it to this topology
		}
		switch mode, _ := rp.Document().Lookup("mode").StringValueOK(); {
		case mode == "primary":
		case mode == "primaryPreferred" && single:
		default:
			t.Errorf("the store's %s sent $readPreference %s (topology %s); want every session read from the primary", c.Name, rp, kind)
		}
	}
	if !seen["find"] || !seen["aggregate"] {
		t.Fatalf("recorded the store's %v; want its find and its aggregate (count)", seen)
	}
}

// TestNewSRVLookupFailureIsUnavailable: a mongodb+srv URI whose DNS
// records cannot be found is an unreachable deployment, not an invalid
// option (a DNS outage must not read as a configuration error).
func TestNewSRVLookupFailureIsUnavailable(t *testing.T) {
	s, err := mongosession.New(ctx, mongosession.Options{URI: "mongodb+srv://cluster0.does-not-resolve.invalid/app", Collection: "sessions"})
	if err == nil {
		s.Close()
		t.Fatal("New succeeded with an unresolvable SRV name")
	}
	if !errors.Is(err, mongosession.ErrUnavailable) || errors.Is(err, mongosession.ErrInvalidOptions) {
		t.Fatalf("New = %v; want ErrUnavailable, not ErrInvalidOptions", err)
	}
	checkNoLeak(t)
}

func TestNewHonoursCallerContext(t *testing.T) {
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	s, err := mongosession.New(cctx, mongosession.Options{URI: "mongodb://127.0.0.1:1/db", Collection: "sessions"})
	if err == nil {
		s.Close()
		t.Fatal("New succeeded with a cancelled context")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("New = %v; want the context's error", err)
	}
}

// TestDatabaseFromURI: with no Options.Database, the store uses the
// database the URI names.
func TestDatabaseFromURI(t *testing.T) {
	dbName := "fromuri_" + mongotest.Collection(t)
	uri, err := mongotest.WithDatabase(mongotest.URI(t), dbName)
	must(t, err)
	s2, err := mongosession.New(ctx, mongosession.Options{URI: uri, Collection: "sessions", Logger: mongotest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db := s2.Collection().Database()
		if db.Drop(context.Background()) != nil { // no dropDatabase right (readWriteAnyDatabase)
			_ = s2.Collection().Drop(context.Background())
		}
		_ = s2.Close()
	})
	if got := s2.Collection().Database().Name(); got != dbName {
		t.Fatalf("database = %q; want the URI's %s", got, dbName)
	}
}

func TestOneRoundTripPerOperation(t *testing.T) {
	s, log := newMonitoredStore(t, mongosession.Options{})
	log.Reset()
	steps := []struct {
		name string
		do   func() error
		want string
	}{
		{"commit", func() error { return s.CommitCtx(ctx, "tok1", []byte("v"), hour()) }, "update"},
		{"find", func() error { _, _, err := s.FindCtx(ctx, "tok1"); return err }, "find"},
		{"find missing", func() error { _, _, err := s.FindCtx(ctx, "nope"); return err }, "find"},
		{"touch", func() error { _, err := s.Touch(ctx, "tok1", hour()); return err }, "update"},
		{"delete", func() error { return s.DeleteCtx(ctx, "tok1") }, "update"},
		{"count", func() error { _, err := s.Count(ctx); return err }, "aggregate"},
		{"clear", func() error { return s.Clear(ctx) }, "delete"},
		{"hostile find", func() error { _, _, err := s.FindCtx(ctx, "\x00"); return err }, ""},
	}
	for _, st := range steps {
		log.Reset()
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := joined(log.Names()); got != st.want {
			t.Errorf("%s sent [%s]; want [%s]", st.name, got, st.want)
		}
	}
}

func TestFindIsBareIDLookup(t *testing.T) {
	s, log := newMonitoredStore(t, mongosession.Options{})
	if err := s.CommitCtx(ctx, "tokF", []byte("v"), hour()); err != nil {
		t.Fatal(err)
	}
	log.Reset()
	if _, _, err := s.FindCtx(ctx, "tokF"); err != nil {
		t.Fatal(err)
	}
	cmds := log.All()
	if len(cmds) != 1 {
		t.Fatalf("sent %d commands", len(cmds))
	}
	filter := cmds[0].Body.Lookup("filter").Document()
	elems, _ := filter.Elements()
	if len(elems) != 1 || elems[0].Key() != "_id" || elems[0].Value().StringValue() != mongosession.HashID("tokF") {
		t.Fatalf("find filter = %s; want {_id: <hash of the token>} alone (the IDHACK path)", filter)
	}
}

func TestExpiredNeverReturnedCountedOrIterated(t *testing.T) {
	s := newStore(t, mongosession.Options{AutoRemove: mongosession.AutoRemoveOff, PlainIDs: true})
	must(t, s.CommitCtx(ctx, "old", []byte("expired"), time.Now().Add(-time.Second)))
	must(t, s.CommitCtx(ctx, "live", []byte("live"), hour()))

	raw := rawCollection(t, s)
	if n, err := raw.CountDocuments(ctx, bson.D{}); err != nil || n != 2 {
		t.Fatalf("raw documents = %d, %v; want both stored (nothing removes them with AutoRemoveOff)", n, err)
	}
	if _, found, err := s.FindCtx(ctx, "old"); err != nil || found {
		t.Errorf("Find(expired) found=%v err=%v", found, err)
	}
	if n, err := s.Count(ctx); err != nil || n != 1 {
		t.Errorf("Count = %d, %v; want 1", n, err)
	}
	var ids []string
	for rec, err := range s.Iter(ctx) {
		must(t, err)
		ids = append(ids, rec.ID)
	}
	if joined(ids) != "live" {
		t.Errorf("Iter = %v; want [live]", ids)
	}
	if ok, err := s.Touch(ctx, "old", hour()); err != nil || ok {
		t.Errorf("Touch(expired) = %v, %v; want false: an expired session never comes back", ok, err)
	}
	if _, found, _ := s.FindCtx(ctx, "old"); found {
		t.Error("expired session came back after Touch")
	}
}

func TestTouchExtendsButNeverResurrects(t *testing.T) {
	s := newStore(t, mongosession.Options{})
	must(t, s.CommitCtx(ctx, "tokT", []byte("v"), time.Now().Add(2*time.Second)))
	later := time.Now().Add(48 * time.Hour).Truncate(time.Millisecond)
	ok, err := s.Touch(ctx, "tokT", later)
	if err != nil || !ok {
		t.Fatalf("Touch(live) = %v, %v", ok, err)
	}
	for rec, err := range s.Iter(ctx) {
		must(t, err)
		if !rec.Expires.Equal(later) {
			t.Errorf("expires after Touch = %v; want %v", rec.Expires, later)
		}
	}
	must(t, s.DeleteCtx(ctx, "tokT"))
	marker := func() bson.Raw {
		var doc bson.Raw
		must(t, rawCollection(t, s).FindOne(ctx, bson.D{}).Decode(&doc))
		return doc
	}
	before := marker()
	if ok, err := s.Touch(ctx, "tokT", later); err != nil || ok {
		t.Fatalf("Touch(deleted) = %v, %v; want false", ok, err)
	}
	// What is left is Delete's ended marker, unchanged by the Touch.
	after := marker()
	if _, err := after.LookupErr("session"); err == nil {
		t.Fatalf("Touch of a deleted session brought its data back: %s", after)
	}
	if !bytes.Equal(before, after) {
		t.Fatalf("Touch changed the ended marker: %s, then %s", before, after)
	}
}

func TestZeroExpiryUsesExpiresOption(t *testing.T) {
	s := newStore(t, mongosession.Options{Expires: 3 * time.Hour})
	before := time.Now()
	must(t, s.CommitCtx(ctx, "tokZ", []byte("v"), time.Time{}))
	for rec, err := range s.Iter(ctx) {
		must(t, err)
		if d := rec.Expires.Sub(before); d < 3*time.Hour-time.Second || d > 3*time.Hour+5*time.Second {
			t.Errorf("zero expiry stored %v from now; want Options.Expires (3h)", d)
		}
	}
}

func TestTooLargeRefusedBeforeSending(t *testing.T) {
	// The 16 MiB commit below is a bound on the test server (FerretDB
	// writes it to SQLite), not on us: give it the room a loaded machine
	// needs.
	s, log := newMonitoredStore(t, mongosession.Options{Timeout: 2 * time.Minute})
	must(t, s.CommitCtx(ctx, "big", []byte("small and intact"), hour()))
	log.Reset()
	err := s.CommitCtx(ctx, "big", make([]byte, mongosession.MaxDocumentSize), hour())
	if !errors.Is(err, mongosession.ErrTooLarge) {
		t.Fatalf("Commit(16 MiB) = %v; want ErrTooLarge", err)
	}
	if names := log.Names(); len(names) != 0 {
		t.Fatalf("a too-large commit sent %v; want nothing", names)
	}
	got, found, err := s.FindCtx(ctx, "big")
	if err != nil || !found || string(got) != "small and intact" {
		t.Fatalf("stored session after refusal = %q, %v, %v; want it intact", got, found, err)
	}
	// Just under the limit is accepted by the server: the computed size is
	// the real one, not a guess with a margin.
	near := mongosession.MaxDocumentSize - 200
	if err := s.CommitCtx(ctx, "near", make([]byte, near), hour()); err != nil {
		t.Fatalf("Commit of %d bytes (under the limit) = %v", near, err)
	}
}

func TestInvalidTokenOnWrite(t *testing.T) {
	s, log := newMonitoredStore(t, mongosession.Options{})
	log.Reset()
	for _, tok := range []string{"", "a\x00b", strings.Repeat("x", mongosession.MaxTokenLength+1), "\xff"} {
		if err := s.CommitCtx(ctx, tok, []byte("v"), hour()); !errors.Is(err, mongosession.ErrInvalidToken) {
			t.Errorf("Commit(%q) = %v; want ErrInvalidToken", tok, err)
		}
		if ok, err := s.Touch(ctx, tok, hour()); ok || err != nil {
			t.Errorf("Touch(%q) = %v, %v; want false, nil", tok, ok, err)
		}
	}
	if names := log.Names(); len(names) != 0 {
		t.Errorf("invalid tokens sent %v; want nothing on the wire", names)
	}
}

func TestCloseIsFinalAndIdempotent(t *testing.T) {
	s, err := mongosession.New(ctx, mongosession.Options{URI: mongotest.URI(t), Database: mongotest.Database, Collection: mongotest.Collection(t), AutoRemove: mongosession.AutoRemoveInterval, CleanupInterval: 10 * time.Millisecond, Logger: mongotest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	must(t, s.Close())
	must(t, s.Close())
	if _, _, err := s.FindCtx(ctx, "x"); !errors.Is(err, mongosession.ErrClosed) {
		t.Errorf("Find after Close = %v", err)
	}
	if err := s.CommitCtx(ctx, "x", nil, hour()); !errors.Is(err, mongosession.ErrClosed) {
		t.Errorf("Commit after Close = %v", err)
	}
	if err := s.DeleteCtx(ctx, "x"); !errors.Is(err, mongosession.ErrClosed) {
		t.Errorf("Delete after Close = %v", err)
	}
	if _, err := s.Count(ctx); !errors.Is(err, mongosession.ErrClosed) {
		t.Errorf("Count after Close = %v", err)
	}
	for _, err := range s.Iter(ctx) {
		if !errors.Is(err, mongosession.ErrClosed) {
			t.Errorf("Iter after Close = %v", err)
		}
	}
	checkNoLeak(t)
}

func TestCloseLeavesCallersClientOpen(t *testing.T) {
	client, err := mongo.Connect(options.Client().ApplyURI(mongotest.URI(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(ctx)
	s, err := mongosession.New(ctx, mongosession.Options{Client: client, Database: mongotest.Database, Collection: mongotest.Collection(t), Logger: mongotest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	must(t, s.Close())
	if err := client.Ping(ctx, nil); err != nil {
		t.Fatalf("the caller's client was disconnected by Close: %v", err)
	}
}

func TestCloseUnderLoad(t *testing.T) {
	s, err := mongosession.New(ctx, mongosession.Options{URI: mongotest.URI(t), Database: mongotest.Database, Collection: mongotest.Collection(t), Logger: mongotest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; ; j++ {
				tok := fmt.Sprintf("load%d_%d", i, j)
				err := s.CommitCtx(ctx, tok, []byte("v"), hour())
				if errors.Is(err, mongosession.ErrClosed) {
					return
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}(i)
	}
	time.Sleep(200 * time.Millisecond)
	must(t, s.Close())
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("an operation in flight during Close failed with %v; want success or ErrClosed", err)
	}
	checkNoLeak(t)
}

func TestCancelledContext(t *testing.T) {
	s := newStore(t, mongosession.Options{})
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, _, err := s.FindCtx(cctx, "tok")
	if !errors.Is(err, context.Canceled) || errors.Is(err, mongosession.ErrUnavailable) {
		t.Fatalf("Find with a cancelled context = %v; want context.Canceled, not unavailable", err)
	}
	dctx, cancel2 := context.WithTimeout(ctx, time.Nanosecond)
	defer cancel2()
	time.Sleep(time.Millisecond)
	if err := s.CommitCtx(dctx, "tok", []byte("v"), hour()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Commit with an expired context = %v; want context.DeadlineExceeded", err)
	}
}

func TestIterStreamsAndStops(t *testing.T) {
	s := newStore(t, mongosession.Options{})
	for i := 0; i < 250; i++ { // more than one batch (101 first, then by size)
		must(t, s.CommitCtx(ctx, fmt.Sprintf("it%03d", i), []byte{byte(i)}, hour()))
	}
	seen := map[string]bool{}
	for rec, err := range s.Iter(ctx) {
		must(t, err)
		if seen[rec.ID] {
			t.Fatalf("%s yielded twice", rec.ID)
		}
		seen[rec.ID] = true
	}
	if len(seen) != 250 {
		t.Fatalf("Iter yielded %d sessions; want 250", len(seen))
	}
	n := 0
	for _, err := range s.Iter(ctx) {
		must(t, err)
		if n++; n == 3 {
			break
		}
	}
	if n != 3 {
		t.Fatalf("break after 3: ran %d", n)
	}
	all, err := s.AllCtx(ctx)
	if err != nil || len(all) != 250 {
		t.Fatalf("All = %d, %v", len(all), err)
	}
}

func TestClearKeepsIndexes(t *testing.T) {
	s := newStore(t, mongosession.Options{})
	must(t, s.CommitCtx(ctx, "c1", []byte("v"), hour()))
	before := indexNames(t, s)
	must(t, s.Clear(ctx))
	if n, _ := rawCollection(t, s).CountDocuments(ctx, bson.D{}); n != 0 {
		t.Fatalf("%d documents after Clear", n)
	}
	if after := indexNames(t, s); joined(after) != joined(before) {
		t.Fatalf("indexes after Clear = %v; want %v", after, before)
	}
}

func indexNames(t *testing.T, s *mongosession.Store) []string {
	t.Helper()
	specs, err := rawCollection(t, s).Indexes().ListSpecifications(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, sp := range specs {
		names = append(names, sp.Name)
	}
	return names
}

func TestConcurrentUpsertsOfOneToken(t *testing.T) {
	s := newStore(t, mongosession.Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if err := s.CommitCtx(ctx, "racing", []byte(fmt.Sprint(i)), hour()); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent upsert of one token failed: %v (a duplicate-key race must be retried)", err)
	}
	if n, _ := rawCollection(t, s).CountDocuments(ctx, bson.D{}); n != 1 {
		t.Fatalf("%d documents for one token", n)
	}
}

func TestBinaryDataIsCopied(t *testing.T) {
	s := newStore(t, mongosession.Options{})
	must(t, s.CommitCtx(ctx, "a", []byte("aaaa"), hour()))
	must(t, s.CommitCtx(ctx, "b", []byte("bbbb"), hour()))
	x, _, _ := s.FindCtx(ctx, "a")
	y, _, _ := s.FindCtx(ctx, "b")
	if !bytes.Equal(x, []byte("aaaa")) || !bytes.Equal(y, []byte("bbbb")) {
		t.Fatalf("finds alias each other: %q %q", x, y)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestCustomExpiresKey(t *testing.T) {
	s := newStore(t, mongosession.Options{ExpiresKey: "expiresAt"})
	must(t, s.CommitCtx(ctx, "tokK", []byte("v"), hour()))
	must(t, s.CommitCtx(ctx, "tokOld", []byte("v"), time.Now().Add(-time.Second)))
	if b, found, err := s.FindCtx(ctx, "tokK"); err != nil || !found || string(b) != "v" {
		t.Fatalf("Find = %q %v %v", b, found, err)
	}
	if _, found, err := s.FindCtx(ctx, "tokOld"); err != nil || found {
		t.Fatalf("expired under a custom key: found=%v err=%v", found, err)
	}
	var doc bson.Raw
	must(t, rawCollection(t, s).FindOne(ctx, bson.D{{Key: "_id", Value: mongosession.HashID("tokK")}}).Decode(&doc))
	if _, err := doc.LookupErr("expiresAt"); err != nil {
		t.Fatalf("stored document %s has no expiresAt", doc)
	}
	if _, err := doc.LookupErr("expires"); err == nil {
		t.Fatalf("stored document %s still has expires", doc)
	}
}
