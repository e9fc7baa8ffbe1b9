package mongosession_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/mongotest"
	"github.com/mongosession/mongosession/internal/rawdriver"
)

// The engine's benchmarks: each operation through the Store ("store") and
// the same command written directly with the driver, on one client, one
// collection and one set of documents, so that the difference is the
// store's own cost. The store bounds a context without deadline by
// Options.Timeout, and the driver then adds maxTimeMS to the command: "raw"
// does the same, so that both send identical commands, and "bare" is the
// driver with a context without deadline, which shows what that timeout
// costs. Run them with
//
//	go test -run '^$' -bench . -benchmem
//
// and compare store with raw in the same run: on the embedded test server
// (FerretDB 1.24) absolute times are the server's, not ours. The bench
// module's command (go run ./bench/cmd/mongosession-bench) interleaves the
// two and prints ratios.

// benchPool is the number of live sessions the benchmarks cycle over.
const benchPool = 64

// benchData is a session of a realistic size for scs (a gob-encoded map
// with a few values).
var benchData = make([]byte, 256)

// benchEnv is a store and a raw collection on the same client and
// collection, with benchPool live sessions.
type benchEnv struct {
	store  *mongosession.Store
	coll   *mongo.Collection
	tokens []string
}

func newBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	client, err := mongo.Connect(options.Client().ApplyURI(mongotest.URI(b)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	// AutoRemoveOff: no reaper firing in the middle of a measurement.
	s := newStore(b, mongosession.Options{Client: client, AutoRemove: mongosession.AutoRemoveOff})
	env := &benchEnv{store: s, coll: s.Collection()}
	env.tokens = benchTokens(benchPool)
	env.insert(b, env.tokens)
	return env
}

func benchTokens(n int) []string {
	tokens := make([]string, n)
	for i := range tokens {
		var b [32]byte
		_, _ = rand.Read(b[:])
		tokens[i] = base64.RawURLEncoding.EncodeToString(b[:])
	}
	return tokens
}

// insert stores live sessions under tokens, as the store would.
func (e *benchEnv) insert(b *testing.B, tokens []string) {
	b.Helper()
	expires := bson.NewDateTimeFromTime(time.Now().Add(time.Hour))
	for len(tokens) > 0 {
		n := min(len(tokens), 1000)
		docs := make([]any, n)
		for i, t := range tokens[:n] {
			docs[i] = bson.D{
				{Key: "_id", Value: mongosession.HashID(t)}, {Key: "session", Value: bson.Binary{Data: benchData}},
				{Key: "expires", Value: expires}, {Key: "hashed", Value: true},
			}
		}
		if _, err := e.coll.InsertMany(context.Background(), docs); err != nil {
			b.Fatal(err)
		}
		tokens = tokens[n:]
	}
}

// benchBoth runs the "store", "raw" and "bare" sub-benchmarks on one
// environment (the same client, collection and documents). raw is called
// with a context bounded by the store's Timeout for "raw", and with
// context.Background() for "bare".
func benchBoth(b *testing.B, store func(b *testing.B, e *benchEnv, i int) error, raw func(ctx context.Context, b *testing.B, e *benchEnv, i int) error) {
	e := newBenchEnv(b)
	for _, side := range []struct {
		name string
		op   func(b *testing.B, e *benchEnv, i int) error
	}{
		{"store", store},
		{"raw", func(b *testing.B, e *benchEnv, i int) error {
			ctx, cancel := context.WithTimeout(context.Background(), e.store.Backend().Timeout())
			defer cancel()
			return raw(ctx, b, e, i)
		}},
		{"bare", func(b *testing.B, e *benchEnv, i int) error {
			return raw(context.Background(), b, e, i)
		}},
	} {
		b.Run(side.name, func(b *testing.B) {
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := side.op(b, e, i); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFind compares Store.FindCtx with the raw driver's find by _id.
func BenchmarkFind(b *testing.B) {
	ctx := context.Background()
	benchBoth(b,
		func(b *testing.B, e *benchEnv, i int) error {
			_, found, err := e.store.FindCtx(ctx, e.tokens[i%benchPool])
			if err == nil && !found {
				err = fmt.Errorf("session %d not found", i%benchPool)
			}
			return err
		},
		func(ctx context.Context, b *testing.B, e *benchEnv, i int) error {
			_, found, err := rawdriver.Find(ctx, e.coll, e.tokens[i%benchPool])
			if err == nil && !found {
				err = fmt.Errorf("session %d not found", i%benchPool)
			}
			return err
		})
}

// BenchmarkCommit compares Store.CommitCtx with the raw driver's upsert by
// _id, both updating existing sessions.
func BenchmarkCommit(b *testing.B) {
	ctx := context.Background()
	benchBoth(b,
		func(b *testing.B, e *benchEnv, i int) error {
			return e.store.CommitCtx(ctx, e.tokens[i%benchPool], benchData, time.Now().Add(time.Hour))
		},
		func(ctx context.Context, b *testing.B, e *benchEnv, i int) error {
			return rawdriver.Commit(ctx, e.coll, e.tokens[i%benchPool], benchData, time.Now().Add(time.Hour))
		})
}

// BenchmarkTouch compares Store.Touch with the raw driver's update of the
// expiry of a live session.
func BenchmarkTouch(b *testing.B) {
	ctx := context.Background()
	benchBoth(b,
		func(b *testing.B, e *benchEnv, i int) error {
			_, err := e.store.Touch(ctx, e.tokens[i%benchPool], time.Now().Add(time.Hour))
			return err
		},
		func(ctx context.Context, b *testing.B, e *benchEnv, i int) error {
			_, err := rawdriver.Touch(ctx, e.coll, e.tokens[i%benchPool], time.Now().Add(time.Hour))
			return err
		})
}

// BenchmarkDelete compares Store.DeleteCtx with the raw driver's delete by
// _id, each deleting an existing session (inserted before the timer runs).
func BenchmarkDelete(b *testing.B) {
	ctx := context.Background()
	var victims []string
	prepare := func(b *testing.B, e *benchEnv, i int) string {
		if i == 0 {
			b.StopTimer()
			victims = benchTokens(b.N)
			e.insert(b, victims)
			b.StartTimer()
		}
		return victims[i]
	}
	benchBoth(b,
		func(b *testing.B, e *benchEnv, i int) error {
			return e.store.DeleteCtx(ctx, prepare(b, e, i))
		},
		func(ctx context.Context, b *testing.B, e *benchEnv, i int) error {
			return rawdriver.Delete(ctx, e.coll, prepare(b, e, i))
		})
}
