package fiberstore_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/fiberstore"
	"github.com/mongosession/mongosession/internal/mongotest"
)

// monitoredStorage opens a storage on coll through a client whose
// commands, handshakes and heartbeats aside, are recorded.
func monitoredStorage(t *testing.T, coll string) (*fiberstore.Storage, *mongotest.Commands) {
	t.Helper()
	return monitoredStorageWith(t, mongosession.Options{Collection: coll})
}

// monitoredStorageWith is monitoredStorage with more store options.
func monitoredStorageWith(t *testing.T, opts mongosession.Options) (*fiberstore.Storage, *mongotest.Commands) {
	t.Helper()
	w := &mongotest.Commands{}
	client, err := mongo.Connect(options.Client().ApplyURI(mongotest.URI(t)).SetMonitor(w.Monitor()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	opts.Client = client
	return fiberstore.New(newStore(t, opts)), w
}

func TestReadOnlyRequestIsOneCommand(t *testing.T) {
	storage, w := monitoredStorage(t, mongotest.Collection(t))
	app, _ := newApp(t, storage, time.Hour)
	b := newBrowser(t, app)
	b.expect("/", "1")
	w.Reset()
	for i := 0; i < 3; i++ {
		if code, _ := b.get("/id"); code != http.StatusOK {
			t.Fatalf("GET /id: %d", code)
		}
		if got := w.TakeNames(); len(got) != 1 || got[0] != "find" {
			t.Fatalf("read-only request %d sent %v; want [find]: fiber saves every session, and an unchanged one must not be rewritten", i, got)
		}
	}
	b.expect("/", "2")
	if got := w.TakeNames(); len(got) != 2 || got[0] != "find" || got[1] != "update" {
		t.Fatalf("changing request sent %v; want [find update]", got)
	}
}

func TestUnchangedSetSlidesExpiryInSteps(t *testing.T) {
	storage, w := monitoredStorage(t, mongotest.Collection(t))
	val := []byte("same bytes")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(storage.Set("k", val, time.Hour))
	w.Reset()
	must(storage.Set("k", val, time.Hour)) // expiry moves by microseconds
	if got := w.TakeNames(); len(got) != 0 {
		t.Fatalf("unchanged Set within the window sent %v; want nothing", got)
	}
	must(storage.Set("k", val, 2*time.Hour)) // expiry moves by an hour: more than a tenth
	if got := w.TakeNames(); len(got) != 1 || got[0] != "update" {
		t.Fatalf("Set moving the expiry by more than a tenth sent %v; want [update]", got)
	}
	must(storage.Set("k", []byte("changed"), 2*time.Hour))
	if got := w.TakeNames(); len(got) != 1 {
		t.Fatalf("changed Set sent %v; want one update", got)
	}
	got, err := storage.Get("k")
	if err != nil || string(got) != "changed" {
		t.Fatalf("Get = %q, %v", got, err)
	}
}

// TestUnchangedSetNeverRevives: another instance deletes a session (a
// logout) while this one serves a read-only request of it; the unchanged
// save must not bring the session back.
func TestUnchangedSetNeverRevives(t *testing.T) {
	coll := mongotest.Collection(t)
	a, _ := monitoredStorage(t, coll)
	b, _ := monitoredStorage(t, coll)
	if err := a.Set("sess", []byte("logged in"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Get("sess"); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete("sess"); err != nil {
		t.Fatal(err)
	}
	if err := a.Set("sess", []byte("logged in"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Get("sess"); err != nil || got != nil {
		t.Fatalf("a session deleted elsewhere came back: %q, %v", got, err)
	}
}

// TestStaleSessionIsRewritten: a session sealed under a retired encryption
// key is rewritten by the next Set even when its bytes are unchanged, so
// rotation does not wait for the user to change something; after that,
// unchanged Sets are skipped again.
func TestStaleSessionIsRewritten(t *testing.T) {
	coll := mongotest.Collection(t)
	k1, k2 := make([]byte, 32), make([]byte, 32)
	k1[0], k2[0] = 1, 2
	old, _ := monitoredStorageWith(t, mongosession.Options{Collection: coll, EncryptionKeys: [][]byte{k1}})
	val := []byte("same bytes")
	if err := old.Set("k", val, time.Hour); err != nil {
		t.Fatal(err)
	}
	rotated, w := monitoredStorageWith(t, mongosession.Options{Collection: coll, EncryptionKeys: [][]byte{k2, k1}})
	for i, want := range [][]string{{"find", "update"}, {"find"}} {
		w.Reset()
		if got, err := rotated.Get("k"); err != nil || string(got) != string(val) {
			t.Fatalf("Get = %q, %v", got, err)
		}
		if err := rotated.Set("k", val, time.Hour); err != nil {
			t.Fatal(err)
		}
		if got := w.TakeNames(); !slices.Equal(got, want) {
			t.Fatalf("round %d: Get and unchanged Set sent %v; want %v", i, got, want)
		}
	}
	onlyNew, _ := monitoredStorageWith(t, mongosession.Options{Collection: coll, EncryptionKeys: [][]byte{k2}, OnError: func(error) {}})
	if got, err := onlyNew.Get("k"); err != nil || string(got) != string(val) {
		t.Fatalf("after the rewrite, the new key alone reads %q, %v", got, err)
	}
}

// TestShorterExpiryIsWritten: an unchanged value with an earlier expiry
// (fiber's SetIdleTimeout, a lowered IdleTimeout after a deploy, a finite
// exp after NoExpiry) must reach the database, or a stolen cookie would
// outlive the shorter lifetime.
func TestShorterExpiryIsWritten(t *testing.T) {
	storage, w := monitoredStorage(t, mongotest.Collection(t))
	val := []byte("same bytes")
	for _, first := range []time.Duration{time.Hour, 0} {
		key := fmt.Sprintf("k%d", first)
		if err := storage.Set(key, val, first); err != nil {
			t.Fatal(err)
		}
		w.Reset()
		if err := storage.Set(key, val, time.Second); err != nil {
			t.Fatal(err)
		}
		if got := w.TakeNames(); len(got) != 1 || got[0] != "update" {
			t.Fatalf("Set shortening exp %v to 1s sent %v; want [update]", first, got)
		}
	}
	time.Sleep(1500 * time.Millisecond)
	for _, first := range []time.Duration{time.Hour, 0} {
		if got, err := storage.Get(fmt.Sprintf("k%d", first)); err != nil || got != nil {
			t.Fatalf("after exp %v was shortened to 1s, Get = %q, %v; want nil, nil", first, got, err)
		}
	}
}
