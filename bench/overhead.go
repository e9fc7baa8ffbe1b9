package bench

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"syscall"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/rawdriver"
)

// OverheadResult compares one operation through the Store with the same
// command written with the driver. The store bounds a context without a
// deadline by Options.Timeout, and the driver then sends maxTimeMS with
// the command: "raw" does the same (a context bounded by the same timeout),
// so that store and raw send identical commands; "bare" is the driver with
// a context that has no deadline, which shows what the timeout costs.
type OverheadResult struct {
	Op string
	// StoreNs, RawNs and BareNs are the median latencies of all the
	// operations of each side, in nanoseconds.
	StoreNs, RawNs, BareNs float64
	// TimeRatio is the median over rounds of the ratio of the store's
	// median latency in the round to raw's, and RatioLow and RatioHigh its
	// first and third quartiles. BareRatio is the same against bare.
	TimeRatio, RatioLow, RatioHigh, BareRatio float64
	// StoreAllocs, RawAllocs and BareAllocs are the medians of
	// allocations per operation (process-wide, so the driver's background
	// goroutines add a little noise to each).
	StoreAllocs, RawAllocs, BareAllocs float64
	// StoreBytes, RawBytes and BareBytes are the medians of bytes
	// allocated per operation.
	StoreBytes, RawBytes, BareBytes float64
	// StoreCPU, RawCPU and BareCPU are the medians over rounds of the
	// client process's CPU time per operation, in nanoseconds: the work of
	// the store and the driver, without the server's (another process).
	// CPURatio is the median over rounds of store CPU / raw CPU, with its
	// quartiles CPURatioLow and CPURatioHigh.
	StoreCPU, RawCPU, BareCPU           float64
	CPURatio, CPURatioLow, CPURatioHigh float64
}

// sessionData is the session stored by every section: 256 bytes, the size
// of a gob-encoded scs map with a few values.
var sessionData = make([]byte, 256)

func newToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func newTokens(n int) []string {
	t := make([]string, n)
	for i := range t {
		t[i] = newToken()
	}
	return t
}

// insertSessions stores live sessions under tokens as the store would, in
// batches of 1 000.
func insertSessions(ctx context.Context, coll *mongo.Collection, tokens []string) error {
	expires := bson.NewDateTimeFromTime(time.Now().Add(24 * time.Hour))
	for len(tokens) > 0 {
		n := min(len(tokens), 1000)
		docs := make([]any, n)
		for i, t := range tokens[:n] {
			docs[i] = bson.D{
				{Key: "_id", Value: mongosession.HashID(t)}, {Key: "session", Value: bson.Binary{Data: sessionData}},
				{Key: "expires", Value: expires}, {Key: "hashed", Value: true},
			}
		}
		if _, err := coll.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false)); err != nil {
			return err
		}
		tokens = tokens[n:]
	}
	return nil
}

// opPair is one operation on both sides. fresh says that each operation
// consumes a session of its own (delete), inserted before the round.
type opPair struct {
	name  string
	fresh bool
	store func(ctx context.Context, token string) error
	raw   func(ctx context.Context, token string) error
}

func mustFind(found bool, err error) error {
	if err == nil && !found {
		return errors.New("a live session was not found")
	}
	return err
}

func overheadOps(s *mongosession.Store, coll *mongo.Collection) []opPair {
	expiry := func() time.Time { return time.Now().Add(time.Hour) }
	return []opPair{
		{name: "Find",
			store: func(ctx context.Context, t string) error { _, f, err := s.FindCtx(ctx, t); return mustFind(f, err) },
			raw: func(ctx context.Context, t string) error {
				_, f, err := rawdriver.Find(ctx, coll, t)
				return mustFind(f, err)
			},
		},
		{name: "Commit",
			store: func(ctx context.Context, t string) error { return s.CommitCtx(ctx, t, sessionData, expiry()) },
			raw: func(ctx context.Context, t string) error {
				return rawdriver.Commit(ctx, coll, t, sessionData, expiry())
			},
		},
		{name: "Touch",
			store: func(ctx context.Context, t string) error {
				f, err := s.Touch(ctx, t, expiry())
				return mustFind(f, err)
			},
			raw: func(ctx context.Context, t string) error {
				f, err := rawdriver.Touch(ctx, coll, t, expiry())
				return mustFind(f, err)
			},
		},
		{name: "Delete", fresh: true,
			store: func(ctx context.Context, t string) error { return s.DeleteCtx(ctx, t) },
			raw:   func(ctx context.Context, t string) error { return rawdriver.Delete(ctx, coll, t) },
		},
	}
}

// sample is one or more timed batches: the latency of each operation and
// the process's allocations during the batches.
type sample struct {
	lat    []float64 // ns
	cpu    time.Duration
	allocs uint64
	bytes  uint64
}

func (a sample) add(b sample) sample {
	return sample{append(a.lat, b.lat...), a.cpu + b.cpu, a.allocs + b.allocs, a.bytes + b.bytes}
}

// processCPU returns the CPU time (user and system) the process has used.
// The server runs in a process of its own, so this is the client's work:
// the driver's and the store's.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// timeBatch runs fn on each token, timing each call, and counts the
// process's allocations over the batch.
func timeBatch(ctx context.Context, fn func(context.Context, string) error, tokens []string) (sample, error) {
	lat := make([]float64, 0, len(tokens))
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	cpu0 := processCPU()
	for _, t := range tokens {
		start := time.Now()
		err := fn(ctx, t)
		lat = append(lat, float64(time.Since(start)))
		if err != nil {
			return sample{}, err
		}
	}
	cpu := processCPU() - cpu0
	runtime.ReadMemStats(&m1)
	return sample{lat: lat, cpu: cpu, allocs: m1.Mallocs - m0.Mallocs, bytes: m1.TotalAlloc - m0.TotalAlloc}, nil
}

// poolSize is the number of live sessions Find, Commit and Touch cycle
// over.
const poolSize = 64

func runOverhead(ctx context.Context, cfg Config, client *mongo.Client, w io.Writer) ([]OverheadResult, error) {
	s, err := mongosession.New(ctx, mongosession.Options{
		Client:     client,
		Database:   cfg.Database,
		Collection: "overhead",
		// No reaper deleting in the middle of a measurement.
		AutoRemove: mongosession.AutoRemoveOff,
		Logger:     slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	coll := s.Collection()
	pool := newTokens(poolSize)
	if err := insertSessions(ctx, coll, pool); err != nil {
		return nil, err
	}
	half := cfg.Batch / 2

	var results []OverheadResult
	for _, op := range overheadOps(s, coll) {
		// The three sides: the store, given a context without deadline as
		// scs's context-free methods and most request contexts are; raw,
		// bounding it by the store's Timeout as the store does; bare.
		sides := [3]func(context.Context, string) error{
			op.store,
			func(ctx context.Context, t string) error {
				octx, cancel := context.WithTimeout(ctx, s.Backend().Timeout())
				defer cancel()
				return op.raw(octx, t)
			},
			op.raw,
		}
		var ratios, bareRatios, cpuRatios []float64
		var perOp [3][3][]float64 // side, (allocs, bytes, cpu), rounds
		var lat [3][]float64      // side, every operation's latency
		next := 0
		tokens := func(n int) []string {
			t := make([]string, n)
			for i := range t {
				t[i] = pool[next%poolSize]
				next++
			}
			return t
		}
		// Round 0 warms up (connections, caches) and is not counted.
		for round := 0; round <= cfg.Rounds; round++ {
			// A palindrome of the sides (ABCCBA), reversed from round to
			// round: every side has the same mean position in time, so a
			// drift of the machine's speed during the round weighs on
			// all alike.
			order := [6]int{0, 1, 2, 2, 1, 0}
			if round%2 == 1 {
				order = [6]int{2, 1, 0, 0, 1, 2}
			}
			var batches [6][]string
			if op.fresh {
				all := newTokens(len(order) * half)
				if err := insertSessions(ctx, coll, all); err != nil {
					return nil, err
				}
				for i := range batches {
					batches[i] = all[i*half : (i+1)*half]
				}
			} else {
				for i := range batches {
					batches[i] = tokens(half)
				}
			}
			runtime.GC()
			var smp [3]sample
			for i, side := range order {
				b, err := timeBatch(ctx, sides[side], batches[i])
				if err != nil {
					return nil, fmt.Errorf("%s: %w", op.name, err)
				}
				smp[side] = smp[side].add(b)
			}
			if round == 0 {
				continue
			}
			// Median latencies resist the server's outliers (a checkpoint
			// of FerretDB's SQLite, a colleague's test run).
			n := float64(2 * half)
			ratios = append(ratios, median(smp[0].lat)/median(smp[1].lat))
			bareRatios = append(bareRatios, median(smp[0].lat)/median(smp[2].lat))
			if smp[1].cpu > 0 {
				cpuRatios = append(cpuRatios, float64(smp[0].cpu)/float64(smp[1].cpu))
			}
			for i := range smp {
				lat[i] = append(lat[i], smp[i].lat...)
				perOp[i][0] = append(perOp[i][0], float64(smp[i].allocs)/n)
				perOp[i][1] = append(perOp[i][1], float64(smp[i].bytes)/n)
				perOp[i][2] = append(perOp[i][2], float64(smp[i].cpu)/n)
			}
		}
		results = append(results, OverheadResult{
			Op:      op.name,
			StoreNs: median(lat[0]), RawNs: median(lat[1]), BareNs: median(lat[2]),
			TimeRatio: median(ratios), RatioLow: quantile(ratios, 0.25), RatioHigh: quantile(ratios, 0.75),
			BareRatio:   median(bareRatios),
			StoreAllocs: median(perOp[0][0]), RawAllocs: median(perOp[1][0]), BareAllocs: median(perOp[2][0]),
			StoreBytes: median(perOp[0][1]), RawBytes: median(perOp[1][1]), BareBytes: median(perOp[2][1]),
			StoreCPU: median(perOp[0][2]), RawCPU: median(perOp[1][2]), BareCPU: median(perOp[2][2]),
			CPURatio: median(cpuRatios), CPURatioLow: quantile(cpuRatios, 0.25), CPURatioHigh: quantile(cpuRatios, 0.75),
		})
	}
	printOverhead(w, cfg, results)
	return results, nil
}

func printOverhead(w io.Writer, cfg Config, rs []OverheadResult) {
	fmt.Fprintf(w, "## 1. Overhead over the raw driver\n\n")
	fmt.Fprintf(w, "%d rounds of %d operations a side, the sides interleaved in a palindrome (store, raw, bare, bare, raw, store; reversed every other round); latencies: medians of every operation; ratio: median over rounds of the ratio of the two sides' median latencies in the round; allocations: medians over rounds. "+
		"raw = the same command with the driver, its context bounded by the store's Timeout as the store does (so both send maxTimeMS); "+
		"bare = the driver with a context without deadline (no maxTimeMS). Ratio = store / raw [quartiles over rounds].\n\n", cfg.Rounds, cfg.Batch)
	fmt.Fprintln(w, "Latency (wall clock, includes the server's time):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| op | store µs | raw µs | bare µs | store / raw [q1, q3] | store / bare |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---|---:|")
	for _, r := range rs {
		fmt.Fprintf(w, "| %s | %.0f | %.0f | %.0f | %.3f [%.3f, %.3f] | %.3f |\n",
			r.Op, r.StoreNs/1e3, r.RawNs/1e3, r.BareNs/1e3, r.TimeRatio, r.RatioLow, r.RatioHigh, r.BareRatio)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Client CPU (this process's user + system time per operation; the server is another process) and allocations:")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| op | store CPU µs | raw CPU µs | bare CPU µs | CPU store / raw [q1, q3] | store allocs | raw allocs | Δ vs raw | bare allocs | Δ vs bare | store B | raw B | bare B |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range rs {
		fmt.Fprintf(w, "| %s | %.1f | %.1f | %.1f | %.3f [%.3f, %.3f] | %.1f | %.1f | %+.1f | %.1f | %+.1f | %.0f | %.0f | %.0f |\n",
			r.Op, r.StoreCPU/1e3, r.RawCPU/1e3, r.BareCPU/1e3, r.CPURatio, r.CPURatioLow, r.CPURatioHigh,
			r.StoreAllocs, r.RawAllocs, r.StoreAllocs-r.RawAllocs, r.BareAllocs, r.StoreAllocs-r.BareAllocs,
			r.StoreBytes, r.RawBytes, r.BareBytes)
	}
	fmt.Fprintln(w)
}

func median(xs []float64) float64 { return quantile(xs, 0.5) }

// quantile returns the q-quantile of xs by linear interpolation (NaN for
// none).
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	pos := q * float64(len(s)-1)
	i := int(pos)
	if i+1 >= len(s) {
		return s[len(s)-1]
	}
	f := pos - float64(i)
	return s[i]*(1-f) + s[i+1]*f
}
