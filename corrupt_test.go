package mongosession_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongosession/mongosession"
)

// deep returns a document nested n levels.
func deep(n int) bson.D {
	d := bson.D{{Key: "leaf", Value: 1}}
	for i := 0; i < n; i++ {
		d = bson.D{{Key: "n", Value: d}}
	}
	return d
}

func TestCorruptDocuments(t *testing.T) {
	var sink errorSink
	s := newStore(t, mongosession.Options{AutoRemove: mongosession.AutoRemoveOff, OnError: sink.add, PlainIDs: true})
	must(t, s.CommitCtx(ctx, "good", []byte("good data"), hour()))
	raw := rawCollection(t, s)
	later := time.Now().Add(time.Hour)
	corrupt := map[string]bson.D{
		"sessionString":  {{Key: "session", Value: "a string"}, {Key: "expires", Value: later}},
		"sessionNumber":  {{Key: "session", Value: 42}, {Key: "expires", Value: later}},
		"sessionDoc":     {{Key: "session", Value: bson.D{{Key: "views", Value: 1}}}, {Key: "expires", Value: later}},
		"sessionMissing": {{Key: "expires", Value: later}},
		"expiresMissing": {{Key: "session", Value: bson.Binary{Data: []byte("x")}}},
		"expiresString":  {{Key: "session", Value: bson.Binary{Data: []byte("x")}}, {Key: "expires", Value: later.Format(time.RFC3339)}},
		"expiresNumber":  {{Key: "session", Value: bson.Binary{Data: []byte("x")}}, {Key: "expires", Value: later.UnixMilli()}},
		"deepNesting":    {{Key: "session", Value: deep(90)}, {Key: "expires", Value: later}},
		"encryptedNoKey": {{Key: "session", Value: bson.Binary{Subtype: 0x80, Data: []byte("junk")}}, {Key: "expires", Value: later}},
		"hugeString":     {{Key: "session", Value: strings.Repeat("x", 15<<20)}, {Key: "expires", Value: later}},
	}
	for id, fields := range corrupt {
		doc := append(bson.D{{Key: "_id", Value: id}}, fields...)
		if _, err := raw.InsertOne(ctx, doc); err != nil {
			t.Fatalf("inserting %s: %v", id, err)
		}
	}
	// Unknown extra fields are not corruption: the store reads what it knows.
	_, err := raw.InsertOne(ctx, bson.D{{Key: "_id", Value: "extraFields"}, {Key: "session", Value: bson.Binary{Data: []byte("ok")}},
		{Key: "expires", Value: later}, {Key: "lastModified", Value: time.Now()}, {Key: "owner", Value: deep(20)}})
	must(t, err)

	for id := range corrupt {
		b, found, err := s.FindCtx(ctx, id)
		if err != nil || found || b != nil {
			t.Errorf("%s: Find = %q, %v, %v; want not found, nil error", id, b, found, err)
		}
	}
	if b, found, err := s.FindCtx(ctx, "extraFields"); err != nil || !found || string(b) != "ok" {
		t.Errorf("extra fields: Find = %q, %v, %v; want the data", b, found, err)
	}
	if b, found, err := s.FindCtx(ctx, "good"); err != nil || !found || string(b) != "good data" {
		t.Errorf("good session among corrupt ones: %q, %v, %v", b, found, err)
	}
	reported := 0
	for _, err := range sink.all() {
		if !errors.Is(err, mongosession.ErrCorrupt) {
			t.Errorf("OnError got %v; want ErrCorrupt", err)
		}
		reported++
	}
	if reported != len(corrupt) {
		t.Errorf("OnError got %d reports for %d corrupt documents", reported, len(corrupt))
	}

	// Iteration skips what it cannot read and yields the rest.
	var ids []string
	for rec, err := range s.Iter(ctx) {
		must(t, err)
		ids = append(ids, rec.ID)
	}
	if joined(ids) != "good,extraFields" && joined(ids) != "extraFields,good" {
		t.Errorf("Iter = %v; want good and extraFields only", ids)
	}
	if _, err := s.DeleteExpired(ctx); err != nil {
		t.Errorf("DeleteExpired among corrupt documents: %v", err)
	}
	if _, err := s.Count(ctx); err != nil {
		t.Errorf("Count among corrupt documents: %v", err)
	}
}
