package fiberstore_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/fiberstore"
	"github.com/mongosession/mongosession/internal/storetest"
)

// adapter maps the conformance suite's contract onto fiber's Storage:
// an expiry date becomes a duration from now, "found" is a non-nil value.
type adapter struct{ s *fiberstore.Storage }

func (a adapter) Find(ctx context.Context, token string) ([]byte, bool, error) {
	b, err := a.s.GetWithContext(ctx, token)
	return b, b != nil, err
}

func (a adapter) Commit(ctx context.Context, token string, b []byte, expiry time.Time) error {
	exp := time.Until(expiry)
	if exp <= 0 {
		exp = -1 // already expired: fiber's 0 would mean "never"
	}
	return a.s.SetWithContext(ctx, token, b, exp)
}

func (a adapter) Delete(ctx context.Context, token string) error {
	return a.s.DeleteWithContext(ctx, token)
}

func (a adapter) Clear(ctx context.Context) error { return a.s.ResetWithContext(ctx) }

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Config{
		New: func(t *testing.T) storetest.Store {
			return adapter{newStorage(t, mongosession.Options{})}
		},
		EmptyValueIgnored: true,
		ExpiryResolution:  time.Second,
	})
}

func TestConformanceHashedEncrypted(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	storetest.Run(t, storetest.Config{
		New: func(t *testing.T) storetest.Store {
			return adapter{newStorage(t, mongosession.Options{EncryptionKeys: [][]byte{key}})}
		},
		EmptyValueIgnored: true,
		ExpiryResolution:  time.Second,
	})
}

// storedExpiry reads the expiry date of the raw document stored for the key
// id (under mongosession.HashID(id), the default _id).
func storedExpiry(t *testing.T, s *mongosession.Store, id string) (time.Time, bool) {
	t.Helper()
	var doc bson.M
	err := s.Collection().FindOne(context.Background(), bson.D{{Key: "_id", Value: mongosession.HashID(id)}}).Decode(&doc)
	if err != nil {
		return time.Time{}, false
	}
	d, ok := doc[s.Backend().ExpiresKey()].(bson.DateTime)
	if !ok {
		t.Fatalf("stored %s is %T, not a date", s.Backend().ExpiresKey(), doc[s.Backend().ExpiresKey()])
	}
	return d.Time(), true
}

func TestGetMissingIsNilNil(t *testing.T) {
	s := newStorage(t, mongosession.Options{})
	for _, key := range []string{"neverSet", "", strings.Repeat("k", mongosession.MaxTokenLength+1), "bad\x00key"} {
		b, err := s.Get(key)
		if b != nil || err != nil {
			t.Errorf("Get(%.20q) = %v, %v; want nil, nil", key, b, err)
		}
	}
}

func TestSetZeroExpiryMeansNoExpiry(t *testing.T) {
	store := newStore(t, mongosession.Options{Expires: time.Hour})
	s := fiberstore.New(store)
	if err := s.Set("forever", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	got, ok := storedExpiry(t, store, "forever")
	if !ok {
		t.Fatal("no document stored for expiry 0")
	}
	if !got.Equal(fiberstore.NoExpiry) {
		t.Fatalf("expiry 0 stored %v; want NoExpiry %v", got, fiberstore.NoExpiry)
	}
	if b, err := s.Get("forever"); err != nil || string(b) != "v" {
		t.Fatalf("Get = %q, %v", b, err)
	}

	before := time.Now()
	if err := s.Set("timed", []byte("v"), 90*time.Second); err != nil {
		t.Fatal(err)
	}
	got, ok = storedExpiry(t, store, "timed")
	if !ok {
		t.Fatal("no document stored for expiry 90s")
	}
	if lo, hi := before.Add(89*time.Second), time.Now().Add(91*time.Second); got.Before(lo) || got.After(hi) {
		t.Fatalf("expiry 90s stored %v; want between %v and %v", got, lo, hi)
	}
}

func TestSetNegativeExpiryDeletes(t *testing.T) {
	s := newStorage(t, mongosession.Options{})
	if err := s.Set("k", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("k", []byte("w"), -time.Second); err != nil {
		t.Fatal(err)
	}
	if b, err := s.Get("k"); b != nil || err != nil {
		t.Fatalf("Get after a negative expiry = %q, %v; want nil, nil", b, err)
	}
}

func TestSetEmptyIgnored(t *testing.T) {
	store := newStore(t, mongosession.Options{})
	s := fiberstore.New(store)
	if err := s.Set("k", []byte("kept"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("k", nil, time.Hour); err != nil {
		t.Fatalf("Set(empty value) = %v; want nil", err)
	}
	if err := s.Set("", []byte("v"), time.Hour); err != nil {
		t.Fatalf("Set(empty key) = %v; want nil", err)
	}
	if b, err := s.Get("k"); err != nil || string(b) != "kept" {
		t.Fatalf("Get after ignored sets = %q, %v; want the old value", b, err)
	}
	n, err := store.Collection().CountDocuments(context.Background(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d documents after ignored sets; want 1", n)
	}
}

func TestSetInvalidKey(t *testing.T) {
	s := newStorage(t, mongosession.Options{})
	for _, key := range []string{strings.Repeat("k", mongosession.MaxTokenLength+1), "a\nb", "\xff"} {
		if err := s.Set(key, []byte("v"), time.Hour); !errors.Is(err, mongosession.ErrInvalidToken) {
			t.Errorf("Set(%.20q) = %v; want ErrInvalidToken", key, err)
		}
	}
	long := strings.Repeat("k", mongosession.MaxTokenLength)
	if err := s.Set(long, []byte("v"), time.Hour); err != nil {
		t.Fatalf("Set(key of MaxTokenLength bytes) = %v", err)
	}
	if b, err := s.Get(long); err != nil || string(b) != "v" {
		t.Fatalf("Get(key of MaxTokenLength bytes) = %q, %v", b, err)
	}
}

func TestSetTooLarge(t *testing.T) {
	s := newStorage(t, mongosession.Options{})
	if err := s.Set("big", make([]byte, mongosession.MaxDocumentSize), time.Hour); !errors.Is(err, mongosession.ErrTooLarge) {
		t.Fatalf("Set(16 MiB) = %v; want ErrTooLarge", err)
	}
}

func TestResetKeepsCollectionAndIndexes(t *testing.T) {
	store := newStore(t, mongosession.Options{})
	s := fiberstore.New(store)
	ctx := context.Background()
	for _, k := range []string{"a", "b", "c"} {
		if err := s.Set(k, []byte(k), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	indexes := func() []string {
		t.Helper()
		specs, err := store.Collection().Indexes().ListSpecifications(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, sp := range specs {
			names = append(names, sp.Name)
		}
		return names
	}
	before := indexes()
	if err := s.Reset(); err != nil {
		t.Fatal(err)
	}
	after := indexes()
	if strings.Join(before, ",") != strings.Join(after, ",") {
		t.Fatalf("indexes before Reset %v, after %v; want them kept", before, after)
	}
	names, err := store.Collection().Database().ListCollectionNames(ctx, bson.D{{Key: "name", Value: store.Collection().Name()}})
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 1 {
		t.Fatalf("collection gone after Reset (listCollections: %v); want it kept", names)
	}
	n, err := store.Collection().CountDocuments(ctx, bson.D{})
	if err != nil || n != 0 {
		t.Fatalf("%d documents after Reset (err %v); want 0", n, err)
	}
	hasTTL := false
	for _, name := range after {
		hasTTL = hasTTL || name == store.Backend().TTLIndexName()
	}
	if !hasTTL {
		t.Skipf("the server has no TTL index on the collection (FerretDB 1.24 lacks TTL indexes): the TTL index part of Reset is unchecked; indexes: %v", after)
	}
}

// TestCloseLeavesStoreToItsOwner: Storage.Close leaves the shared store
// open (whoever called mongosession.New closes it); once the owner has
// closed it, every call of the Storage returns ErrClosed.
func TestCloseLeavesStoreToItsOwner(t *testing.T) {
	store := newStore(t, mongosession.Options{})
	s := fiberstore.New(store)
	if err := s.Set("k", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, found, err := store.FindCtx(context.Background(), "k"); err != nil || !found {
		t.Fatalf("store.FindCtx after Storage.Close = %v, %v; want the session (the store is its owner's to close)", found, err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("k"); !errors.Is(err, mongosession.ErrClosed) {
		t.Fatalf("Get after Close = %v; want ErrClosed", err)
	}
	if err := s.Set("k", []byte("v"), time.Hour); !errors.Is(err, mongosession.ErrClosed) {
		t.Fatalf("Set after Close = %v; want ErrClosed", err)
	}
	if err := s.Delete("k"); !errors.Is(err, mongosession.ErrClosed) {
		t.Fatalf("Delete after Close = %v; want ErrClosed", err)
	}
	if err := s.Reset(); !errors.Is(err, mongosession.ErrClosed) {
		t.Fatalf("Reset after Close = %v; want ErrClosed", err)
	}
}

func TestNilStore(t *testing.T) {
	s := fiberstore.New(nil)
	if _, err := s.Get("k"); !errors.Is(err, mongosession.ErrClosed) {
		t.Errorf("Get = %v; want ErrClosed", err)
	}
	if err := s.Set("k", []byte("v"), 0); !errors.Is(err, mongosession.ErrClosed) {
		t.Errorf("Set = %v; want ErrClosed", err)
	}
	if err := s.Delete("k"); !errors.Is(err, mongosession.ErrClosed) {
		t.Errorf("Delete = %v; want ErrClosed", err)
	}
	if err := s.Reset(); !errors.Is(err, mongosession.ErrClosed) {
		t.Errorf("Reset = %v; want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close = %v; want nil", err)
	}
}

func TestContextCanceled(t *testing.T) {
	s := newStorage(t, mongosession.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.GetWithContext(ctx, "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("GetWithContext(canceled) = %v; want context.Canceled", err)
	}
	if err := s.SetWithContext(ctx, "k", []byte("v"), time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("SetWithContext(canceled) = %v; want context.Canceled", err)
	}
}
