package nodesession

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/mongotest"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// TestWriteSize: the size a write predicts for the document it makes is
// the size of the document the server stores, for every kind of write the
// codecs and store rules send: upserts that insert (with $setOnInsert and
// $currentDate, with and without an _id of their own), per-key $set and
// $unset of session.<key>, the cookie's touch, values replaced by larger
// and smaller ones, null values, missing parents, unsets of missing keys.
func TestWriteSize(t *testing.T) {
	ctx := context.Background()
	coll := mongotest.NewStore(t, mongosession.Options{PlainIDs: true, AutoRemove: mongosession.AutoRemoveOff}).Collection()
	now := bson.NewDateTimeFromTime(time.Now())
	cookie := bson.D{{Key: "originalMaxAge", Value: int32(3600000)}, {Key: "expires", Value: now}, {Key: "httpOnly", Value: true}, {Key: "path", Value: "/"}}
	steps := []struct {
		name   string
		filter bson.D
		w      write
		insert bool
	}{
		{"insert", bson.D{{Key: "_id", Value: "s1"}}, write{
			set: bson.D{{Key: "_id", Value: "s1"}, {Key: "session", Value: bson.D{{Key: "cookie", Value: cookie},
				{Key: "user", Value: "alice"}, {Key: "n", Value: int32(3)}, {Key: "cart", Value: bson.A{"a", 1.5, nil}}}},
				{Key: "expires", Value: now}, {Key: "lastModified", Value: now}},
			setOnInsert: bson.D{{Key: "createdAt", Value: now}},
			currentDate: bson.D{{Key: "updatedAt", Value: true}},
		}, true},
		{"per-key update", bson.D{{Key: "_id", Value: "s1"}}, write{
			set: bson.D{{Key: "session.cookie.expires", Value: nil}, {Key: "session.user", Value: strings.Repeat("b", 300)},
				{Key: "session.new", Value: bson.D{{Key: "x", Value: 2.5}, {Key: "when", Value: now}}},
				{Key: "session.cart", Value: bson.A{}}, {Key: "expires", Value: now}},
			unset:       bson.D{{Key: "session.n", Value: ""}, {Key: "session.missing", Value: ""}},
			setOnInsert: bson.D{{Key: "ignored", Value: "not an insert"}},
			currentDate: bson.D{{Key: "updatedAt", Value: true}, {Key: "touched", Value: true}},
		}, false},
		{"missing parents", bson.D{{Key: "_id", Value: "s1"}}, write{
			set:   bson.D{{Key: "extra.deep.x", Value: "v"}, {Key: "session.cookie.expires", Value: now}},
			unset: bson.D{{Key: "lastModified", Value: ""}},
		}, false},
		{"whole JSON session", bson.D{{Key: "_id", Value: "s1"}}, write{
			set: bson.D{{Key: "session", Value: `{"cookie":{},"user":"carol"}`}, {Key: "expires", Value: nil}},
		}, false},
		{"insert beside another id field", bson.D{{Key: "sid", Value: "s2"}}, write{
			set: bson.D{{Key: "sid", Value: "s2"}, {Key: "session", Value: bson.D{{Key: "cookie", Value: cookie}}}, {Key: "expires", Value: now}},
		}, true},
	}
	var loaded bson.Raw
	for _, st := range steps {
		if st.insert {
			loaded = nil
		}
		want, err := st.w.size(loaded)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if _, err := coll.UpdateOne(ctx, st.filter, st.w.doc(), options.UpdateOne().SetUpsert(st.insert)); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if loaded, err = coll.FindOne(ctx, st.filter).Raw(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if len(loaded) != want {
			t.Errorf("%s: the server stored %d bytes, the write predicted %d: %v", st.name, len(loaded), want, loaded)
		}
	}
}

// BenchmarkWriteSize is the cost of the size check (size) against the
// encoding of the write's update document (encode, which the driver does
// again to send it) and against the raw driver sending the same write
// (driver), in the same run: a per-key update of a small session (the
// common save), and the creation of a session with a 1 MiB value.
func BenchmarkWriteSize(b *testing.B) {
	ctx := context.Background()
	coll := mongotest.NewStore(b, mongosession.Options{PlainIDs: true, AutoRemove: mongosession.AutoRemoveOff}).Collection()
	now := bson.NewDateTimeFromTime(time.Now())
	small := bson.D{{Key: "cookie", Value: bson.D{{Key: "originalMaxAge", Value: int32(3600000)}, {Key: "expires", Value: now}}}}
	for i := range 20 {
		small = append(small, bson.E{Key: "k" + strings.Repeat("x", i), Value: strings.Repeat("v", 40)})
	}
	loaded, err := bson.Marshal(bson.D{{Key: "_id", Value: "s"}, {Key: "session", Value: small}, {Key: "expires", Value: now}})
	if err != nil {
		b.Fatal(err)
	}
	update := write{set: bson.D{{Key: "session.cookie.expires", Value: now}, {Key: "session.kx", Value: "changed"}, {Key: "expires", Value: now}}}
	create := write{set: bson.D{{Key: "_id", Value: "big"}, {Key: "session", Value: bson.D{{Key: "cookie", Value: small},
		{Key: "blob", Value: strings.Repeat("b", 1<<20)}}}, {Key: "expires", Value: now}}}
	if _, err := coll.InsertOne(ctx, loaded); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name   string
		filter bson.D
		w      write
		loaded bson.Raw
	}{{"update", bson.D{{Key: "_id", Value: "s"}}, update, loaded}, {"create 1 MiB", bson.D{{Key: "_id", Value: "big"}}, create, nil}} {
		b.Run(bc.name+"/size", func(b *testing.B) {
			for b.Loop() {
				if err := bc.w.fits(bc.loaded); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bc.name+"/encode", func(b *testing.B) {
			for b.Loop() {
				if _, err := bson.Marshal(bc.w.doc()); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bc.name+"/driver", func(b *testing.B) {
			for b.Loop() {
				if _, err := coll.UpdateOne(ctx, bc.filter, bc.w.doc(), options.UpdateOne().SetUpsert(true)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestFitsOverLimit: a write is refused when its document would exceed
// 16 MiB and it grows the document; one that does not grow a stored
// document already over the limit (FerretDB 1.x stores such documents) is
// let through, so a touch or a shrinking write still works.
func TestFitsOverLimit(t *testing.T) {
	now := bson.NewDateTimeFromTime(time.Now())
	over, err := bson.Marshal(bson.D{{Key: "_id", Value: "s"}, {Key: "session", Value: bson.D{
		{Key: "a", Value: strings.Repeat("a", 9<<20)}, {Key: "b", Value: strings.Repeat("b", 8<<20)}}}, {Key: "expires", Value: now}})
	if err != nil {
		t.Fatal(err)
	}
	under, err := bson.Marshal(bson.D{{Key: "_id", Value: "s"}, {Key: "session", Value: bson.D{
		{Key: "a", Value: strings.Repeat("a", 9<<20)}}}, {Key: "expires", Value: now}})
	if err != nil {
		t.Fatal(err)
	}
	touch := write{set: bson.D{{Key: "expires", Value: now}}}
	grow := write{set: bson.D{{Key: "session.c", Value: "c"}}}
	shrink := write{unset: bson.D{{Key: "session.a", Value: ""}}, set: bson.D{{Key: "session.b", Value: "b"}}}
	for _, tc := range []struct {
		name    string
		w       write
		loaded  bson.Raw
		refused bool
	}{
		{"touch over the limit", touch, over, false},
		{"shrink over the limit", shrink, over, false},
		{"grow over the limit", grow, over, true},
		{"grow past the limit", write{set: bson.D{{Key: "session.b", Value: strings.Repeat("b", 7<<20)}}}, under, true},
		{"grow within the limit", write{set: bson.D{{Key: "session.b", Value: strings.Repeat("b", 6<<20)}}}, under, false},
		{"new over the limit", write{set: bson.D{{Key: "session", Value: strings.Repeat("s", 16<<20)}}}, nil, true},
	} {
		err := tc.w.fits(tc.loaded)
		if refused := errors.Is(err, mongosession.ErrTooLarge); refused != tc.refused || (err != nil && !refused) {
			t.Errorf("%s: fits = %v, want refused %v", tc.name, err, tc.refused)
		}
	}
}
