package httpsession

// FuzzLoadDocument needs no server. Its seed corpus under
// testdata/fuzz/FuzzLoadDocument/ (and the f.Add seeds) runs with every go
// test; explore further with
//
//	MONGODB_URI=mongodb://127.0.0.1:1 go test -run '^$' -fuzz '^FuzzLoadDocument$' -fuzztime 3m ./httpsession
//
// (MONGODB_URI keeps TestMain from starting a test server in every fuzz
// worker: this target never connects.)

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mongosession/mongosession"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// fuzzDocument returns a stored session document whose "session" field is
// the embedded document sess, as raw bytes (sess need not be valid BSON).
func fuzzDocument(sess []byte) []byte {
	var b []byte
	b = append(b, 0, 0, 0, 0)
	date := func(name string, ms int64) {
		b = append(b, byte(bson.TypeDateTime))
		b = append(b, name...)
		b = append(b, 0)
		b = binary.LittleEndian.AppendUint64(b, uint64(ms))
	}
	later := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	date(mongosession.DefaultExpiresKey, later)
	date(fieldLastSeen, later-1000)
	b = append(b, byte(bson.TypeEmbeddedDocument))
	b = append(b, fieldSession...)
	b = append(b, 0)
	b = append(b, sess...)
	b = append(b, 0)
	binary.LittleEndian.PutUint32(b, uint32(len(b)))
	return b
}

// FuzzLoadDocument feeds arbitrary stored documents, and arbitrary
// "session" sub-documents in an otherwise valid document, to the decoding
// the manager's load runs on what it finds in MongoDB, then reads every
// value with each getter: never a panic; an error wraps
// mongosession.ErrCorrupt and never quotes the session's id; a decoded
// session holds only keys whose escaped names are fields of the stored
// session (a field this package cannot have written is skipped), and each
// value is the stored field's.
func FuzzLoadDocument(f *testing.F) {
	later := bson.NewDateTimeFromTime(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	for _, sess := range []any{
		bson.D{{Key: "views", Value: int32(3)}, {Key: "name", Value: "alice"}, {Key: "%", Value: true}},
		bson.D{{Key: "%24where", Value: 1.5}, {Key: "%5F_proto__", Value: bson.Binary{Data: []byte{1}}}, {Key: "a%2Eb", Value: later}},
		bson.D{{Key: "$where", Value: 1}, {Key: "a.b", Value: 2}, {Key: "_id", Value: 3}, {Key: "%zz", Value: 4}, {Key: "%4", Value: 5}, {Key: "", Value: 6}},
		bson.D{{Key: "d", Value: bson.D{{Key: "x", Value: bson.A{int64(math.MaxInt64), math.NaN(), nil}}}}, {Key: "d", Value: "dup"}},
		bson.D{{Key: "u", Value: bson.Undefined{}}, {Key: "o", Value: bson.NewObjectIDFromTimestamp(time.Unix(0, 0))}, {Key: "dec", Value: bson.NewDecimal128(1, 2)}, {Key: "re", Value: bson.Regex{Pattern: "a"}}},
		"not a document", int32(5), nil,
	} {
		for _, doc := range []bson.D{
			{{Key: "_id", Value: "id"}, {Key: fieldSession, Value: sess}, {Key: "expires", Value: later}, {Key: fieldLastSeen, Value: later}, {Key: fieldLastSeen, Value: later}, {Key: fieldUser, Value: "alice"}, {Key: fieldAgent, Value: "curl"}},
			{{Key: "_id", Value: "id"}, {Key: fieldSession, Value: sess}, {Key: "expires", Value: later}, {Key: fieldLastSeen, Value: later}, {Key: fieldUser, Value: int32(1)}},
		} {
			b, err := bson.Marshal(doc)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b, false)
		}
		if d, ok := sess.(bson.D); ok {
			b, err := bson.Marshal(d)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b, true)
		}
	}
	for _, doc := range []bson.D{
		{{Key: "_id", Value: "id"}, {Key: "expires", Value: later}, {Key: fieldLastSeen, Value: later}},
		{{Key: "_id", Value: "id"}, {Key: "expires", Value: "2030-01-01"}, {Key: fieldLastSeen, Value: later}},
		{{Key: "_id", Value: "id"}, {Key: "expires", Value: later}, {Key: fieldLastSeen, Value: int64(0)}},
		{{Key: "_id", Value: "id"}, {Key: "expires", Value: later}, {Key: fieldLastSeen, Value: bson.DateTime(math.MinInt64)}, {Key: fieldLastSeen, Value: bson.DateTime(math.MaxInt64)}},
	} {
		b, _ := bson.Marshal(doc)
		f.Add(b, false)
	}
	f.Add([]byte{}, false)
	f.Add([]byte{5, 0, 0, 0, 0}, true)
	f.Add([]byte{0xff, 0xff, 0xff, 0x7f, 0x03, 's', 0}, true)

	m := New(nil)
	m.IdleTimeout = time.Hour
	const id = "STORED-ID-NEVER-QUOTED"
	f.Fuzz(func(t *testing.T, b []byte, wrap bool) {
		raw := bson.Raw(b)
		if wrap {
			raw = fuzzDocument(b)
		}
		st := newState(m, httptest.NewRequest("GET", "/", nil))
		st.sel = id
		if err := m.adopt(st, raw); err != nil {
			if !errors.Is(err, mongosession.ErrCorrupt) {
				t.Fatalf("decode error %v does not wrap ErrCorrupt", err)
			}
			if strings.Contains(err.Error(), id) {
				t.Fatalf("decode error %q quotes the id", err)
			}
			return
		}
		// What load does next with a decoded document.
		_ = m.deadline(st.created, st.seen).After(time.Now())

		if len(st.vals) == 0 {
			return
		}
		// The stored fields, the last of a repeated name winning as in decode.
		elems, err := raw.Lookup(fieldSession).Document().Elements()
		if err != nil {
			t.Fatalf("decoded a session whose fields do not parse: %v", err)
		}
		fields := map[string]bson.RawValue{}
		for _, e := range elems {
			fields[e.Key()] = e.Value()
			if key, ok := decodeKey(e.Key()); ok && encodeKey(key) != e.Key() {
				t.Fatalf("field %q was read as key %q, whose field is %q", e.Key(), key, encodeKey(key))
			}
		}
		ctx := context.WithValue(context.Background(), m.key, st)
		for key, v := range st.vals {
			field := encodeKey(key)
			stored, ok := fields[field]
			if !ok {
				t.Fatalf("key %q (field %q) is not in the stored session", key, field)
			}
			if got, ok := decodeKey(field); !ok || got != key {
				t.Fatalf("field %q decodes to %q, %v; the session has key %q", field, got, ok, key)
			}
			if !v.Equal(stored) {
				t.Fatalf("key %q holds %s; the stored field is %s", key, v, stored)
			}
			_ = m.Get(ctx, key)
			_ = m.GetString(ctx, key)
			_ = m.GetBool(ctx, key)
			_ = m.GetInt(ctx, key)
			_ = m.GetInt64(ctx, key)
			_ = m.GetFloat(ctx, key)
			_ = m.GetBytes(ctx, key)
			_ = m.GetTime(ctx, key)
			var into struct{ X string }
			_, _ = m.Decode(ctx, key, &into)
			var anyv any
			_, _ = m.Decode(ctx, key, &anyv)
		}
		if keys := m.Keys(ctx); len(keys) != len(st.vals) {
			t.Fatalf("Keys = %q for %d values", keys, len(st.vals))
		}
	})
}
