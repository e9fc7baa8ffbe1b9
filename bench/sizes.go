package bench

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/rawdriver"
)

// SizeResult compares Find or Commit of sessions of one size through the
// Store with the same command written with the driver (its context bounded
// by the store's Timeout, as the overhead section's "raw" side).
type SizeResult struct {
	Op   string // "Find" or "Commit"
	Size int    // bytes of session data
	// StoreNs and RawNs are the median latencies of every operation of
	// each side; Ratio is the median over rounds of the ratio of the two
	// sides' median latencies in the round, RatioLow and RatioHigh its
	// quartiles.
	StoreNs, RawNs             float64
	Ratio, RatioLow, RatioHigh float64
	// StoreAllocBytes, RawAllocBytes, StoreAllocs and RawAllocs are the
	// medians over rounds of the Go heap bytes and objects allocated per
	// operation (process-wide).
	StoreAllocBytes, RawAllocBytes float64
	StoreAllocs, RawAllocs         float64
	// Wire sizes of one operation of each side: the BSON size of the
	// command as the command monitor's started event gives it (document
	// sequences included) and of the reply (succeeded event).
	StoreSent, StoreReceived, RawSent, RawReceived int64
}

// wireMeter is a command monitor that counts the commands a client sends,
// by command name, and the BSON bytes of the commands and their replies.
type wireMeter struct {
	mu    sync.Mutex
	count map[string]int64
	sent  int64
	recv  int64
}

func newWireMeter() *wireMeter { return &wireMeter{count: map[string]int64{}} }

func (m *wireMeter) monitor() *event.CommandMonitor {
	return &event.CommandMonitor{
		Started: func(_ context.Context, e *event.CommandStartedEvent) {
			m.mu.Lock()
			m.count[e.CommandName]++
			m.sent += int64(len(e.Command))
			m.mu.Unlock()
		},
		Succeeded: func(_ context.Context, e *event.CommandSucceededEvent) {
			m.mu.Lock()
			m.recv += int64(len(e.Reply))
			m.mu.Unlock()
		},
	}
}

// wireReading is what a wireMeter saw between two takes.
type wireReading struct {
	count      map[string]int64
	sent, recv int64
}

func (r wireReading) commands() int64 {
	var n int64
	for _, c := range r.count {
		n += c
	}
	return n
}

// take returns what the meter saw since the last take and starts afresh.
func (m *wireMeter) take() wireReading {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := wireReading{count: m.count, sent: m.sent, recv: m.recv}
	m.count, m.sent, m.recv = map[string]int64{}, 0, 0
	return r
}

// perRequest formats counts divided by n, largest first: "find 1.00, update 0.99".
func (r wireReading) perRequest(n int) string {
	names := make([]string, 0, len(r.count))
	for name := range r.count {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		if r.count[names[i]] != r.count[names[j]] {
			return r.count[names[i]] > r.count[names[j]]
		}
		return names[i] < names[j]
	})
	parts := make([]string, len(names))
	for i, name := range names {
		parts[i] = fmt.Sprintf("%s %.2f", name, float64(r.count[name])/float64(max(n, 1)))
	}
	return strings.Join(parts, ", ")
}

// sizePool is the number of sessions of each size Find and Commit cycle
// over.
const sizePool = 8

func runSizes(ctx context.Context, cfg Config, client *mongo.Client, w io.Writer) ([]SizeResult, error) {
	sizes := cfg.SessionSizes
	if len(sizes) == 0 {
		sizes = []int{1 << 10}
	}
	rounds, half := max(cfg.SizeRounds, 1), max(cfg.SizeBatch/2, 1)

	opts := mongosession.Options{
		Client: client, Database: cfg.Database, Collection: "sizes",
		AutoRemove: mongosession.AutoRemoveOff, Logger: slog.New(slog.DiscardHandler),
		// A 1 MiB write on FerretDB 1.24 takes 0.1 s and, now and then
		// (SQLite checkpoints), seconds: more than the default 5 s would
		// end a run that measures, not judges, the server.
		Timeout: 30 * time.Second,
	}
	s, err := mongosession.New(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	coll := s.Collection()

	// A second client, monitored, for the wire sizes: with a monitor the
	// driver copies every command for its started event, which would count
	// as allocations of the timed operations.
	meter := newWireMeter()
	mclient, err := mongo.Connect(options.Client().ApplyURI(cfg.URI).SetMonitor(meter.monitor()))
	if err != nil {
		return nil, err
	}
	defer mclient.Disconnect(context.Background())
	opts.Client = mclient
	ms, err := mongosession.New(ctx, opts)
	if err != nil {
		return nil, err
	}
	defer ms.Close()
	mcoll := ms.Collection()

	bounded := func(fn func(ctx context.Context, t string) error) func(context.Context, string) error {
		return func(ctx context.Context, t string) error {
			octx, cancel := context.WithTimeout(ctx, s.Backend().Timeout())
			defer cancel()
			return fn(octx, t)
		}
	}
	var results []SizeResult
	for _, size := range sizes {
		data := make([]byte, size)
		_, _ = rand.Read(data) // incompressible, as sealed sessions are
		expiry := func() time.Time { return time.Now().Add(time.Hour) }
		pool := newTokens(sizePool)
		for _, t := range pool {
			if err := s.CommitCtx(ctx, t, data, expiry()); err != nil {
				return nil, fmt.Errorf("storing a %d-byte session: %w", size, err)
			}
		}
		checkFind := func(b []byte, found bool, err error) error {
			if err = mustFind(found, err); err == nil && len(b) != size {
				err = fmt.Errorf("found %d bytes, stored %d", len(b), size)
			}
			return err
		}
		type sides struct {
			op          string
			store, raw  func(context.Context, string) error
			mstore, mrw func(context.Context, string) error // on the monitored client
		}
		ops := []sides{
			{op: "Find",
				store:  func(ctx context.Context, t string) error { return checkFind(s.FindCtx(ctx, t)) },
				raw:    bounded(func(ctx context.Context, t string) error { return checkFind(rawdriver.Find(ctx, coll, t)) }),
				mstore: func(ctx context.Context, t string) error { return checkFind(ms.FindCtx(ctx, t)) },
				mrw:    bounded(func(ctx context.Context, t string) error { return checkFind(rawdriver.Find(ctx, mcoll, t)) }),
			},
			{op: "Commit",
				store:  func(ctx context.Context, t string) error { return s.CommitCtx(ctx, t, data, expiry()) },
				raw:    bounded(func(ctx context.Context, t string) error { return rawdriver.Commit(ctx, coll, t, data, expiry()) }),
				mstore: func(ctx context.Context, t string) error { return ms.CommitCtx(ctx, t, data, expiry()) },
				mrw:    bounded(func(ctx context.Context, t string) error { return rawdriver.Commit(ctx, mcoll, t, data, expiry()) }),
			},
		}
		for _, op := range ops {
			r := SizeResult{Op: op.op, Size: size}

			// Wire: one operation of each side on the monitored client,
			// after one that warms its connection up.
			if err := op.mstore(ctx, pool[0]); err != nil {
				return nil, fmt.Errorf("%s of %d bytes: %w", op.op, size, err)
			}
			for i, fn := range []func(context.Context, string) error{op.mstore, op.mrw} {
				meter.take()
				if err := fn(ctx, pool[1]); err != nil {
					return nil, fmt.Errorf("%s of %d bytes: %w", op.op, size, err)
				}
				rd := meter.take()
				if rd.commands() != 1 {
					return nil, fmt.Errorf("%s of %d bytes sent %d commands (%s), want 1", op.op, size, rd.commands(), rd.perRequest(1))
				}
				if i == 0 {
					r.StoreSent, r.StoreReceived = rd.sent, rd.recv
				} else {
					r.RawSent, r.RawReceived = rd.sent, rd.recv
				}
			}

			// Time and allocations: store and raw interleaved ABBA,
			// reversed every other round; round 0 warms up.
			var ratios []float64
			var lat [2][]float64
			var allocs, bytes [2][]float64
			next := 0
			batch := func() []string {
				t := make([]string, half)
				for i := range t {
					t[i] = pool[next%sizePool]
					next++
				}
				return t
			}
			fns := [2]func(context.Context, string) error{op.store, op.raw}
			for round := 0; round <= rounds; round++ {
				order := [4]int{0, 1, 1, 0}
				if round%2 == 1 {
					order = [4]int{1, 0, 0, 1}
				}
				runtime.GC()
				var smp [2]sample
				for _, side := range order {
					b, err := timeBatch(ctx, fns[side], batch())
					if err != nil {
						return nil, fmt.Errorf("%s of %d bytes: %w", op.op, size, err)
					}
					smp[side] = smp[side].add(b)
				}
				if round == 0 {
					continue
				}
				ratios = append(ratios, median(smp[0].lat)/median(smp[1].lat))
				n := float64(2 * half)
				for i := range smp {
					lat[i] = append(lat[i], smp[i].lat...)
					allocs[i] = append(allocs[i], float64(smp[i].allocs)/n)
					bytes[i] = append(bytes[i], float64(smp[i].bytes)/n)
				}
			}
			r.StoreNs, r.RawNs = median(lat[0]), median(lat[1])
			r.Ratio, r.RatioLow, r.RatioHigh = median(ratios), quantile(ratios, 0.25), quantile(ratios, 0.75)
			r.StoreAllocs, r.RawAllocs = median(allocs[0]), median(allocs[1])
			r.StoreAllocBytes, r.RawAllocBytes = median(bytes[0]), median(bytes[1])
			results = append(results, r)
		}
		if err := s.Clear(ctx); err != nil {
			return nil, err
		}
	}
	printSizes(w, rounds, 2*half, results)
	return results, nil
}

func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

func kib(b float64) string { return fmt.Sprintf("%.1f", b/1024) }

func printSizes(w io.Writer, rounds, batch int, rs []SizeResult) {
	fmt.Fprintf(w, "## 6. Session size\n\n")
	fmt.Fprintf(w, "%d rounds of %d operations a side per size and op, store and raw interleaved (store, raw, raw, store; reversed every other round) over %d sessions of random bytes; "+
		"raw = the same command with the driver, its context bounded by the store's Timeout; ratio = median over rounds of store / raw median latency [quartiles]. "+
		"Heap: Go bytes and objects allocated per operation (process-wide, medians over rounds). "+
		"Wire: BSON size of the command sent and of the reply, from the command monitor (a second, monitored client; one operation), in KiB.\n\n", rounds, batch, sizePool)
	fmt.Fprintln(w, "| op | size | store µs | raw µs | store / raw [q1, q3] | store heap KiB | raw heap KiB | store allocs | raw allocs | store wire sent / received KiB | raw wire sent / received KiB |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|")
	for _, r := range rs {
		fmt.Fprintf(w, "| %s | %s | %.0f | %.0f | %.3f [%.3f, %.3f] | %s | %s | %.0f | %.0f | %s / %s | %s / %s |\n",
			r.Op, sizeName(r.Size), r.StoreNs/1e3, r.RawNs/1e3, r.Ratio, r.RatioLow, r.RatioHigh,
			kib(r.StoreAllocBytes), kib(r.RawAllocBytes), r.StoreAllocs, r.RawAllocs,
			kib(float64(r.StoreSent)), kib(float64(r.StoreReceived)), kib(float64(r.RawSent)), kib(float64(r.RawReceived)))
	}
	fmt.Fprintln(w)
}
