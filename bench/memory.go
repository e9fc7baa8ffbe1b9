package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"runtime"
	"sync"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongosession/mongosession"
)

// MemoryResult is the heap cost of going over every session.
type MemoryResult struct {
	Sessions int
	// IterPeakLive is the largest growth of the live heap (measured after
	// a GC) over its level before the iteration, sampled while Store.Iter
	// streams the sessions.
	IterPeakLive int64
	// IterRetained is the live-heap growth once the iteration is over.
	IterRetained int64
	// IterAllocated is the total allocated by the iteration, all garbage
	// collected along the way.
	IterAllocated uint64
	// AllLive is the live-heap growth while the map of AllCtx is held,
	// for comparison: it holds every session at once.
	AllLive int64
	// Batches is the number of replies (find, then getMore) the cursor
	// read, and MaxBatch the size of the largest in bytes: what bounds the
	// memory of a streamed iteration is the server's batch size.
	Batches  int
	MaxBatch int
}

// batchMonitor counts the replies of find and getMore commands.
type batchMonitor struct {
	mu      sync.Mutex
	count   int
	largest int
}

func (b *batchMonitor) monitor() *event.CommandMonitor {
	return &event.CommandMonitor{Succeeded: func(_ context.Context, e *event.CommandSucceededEvent) {
		if e.CommandName != "find" && e.CommandName != "getMore" {
			return
		}
		b.mu.Lock()
		b.count++
		b.largest = max(b.largest, len(e.Reply))
		b.mu.Unlock()
	}}
}

func (b *batchMonitor) take() (count, largest int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	count, largest = b.count, b.largest
	b.count, b.largest = 0, 0
	return count, largest
}

// liveHeap returns the live heap after a full collection.
func liveHeap() (live uint64, total uint64) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc, m.TotalAlloc
}

// runMemory iterates coll (the scale section's collection) after filling it
// up to cfg.IterSessions live sessions, or a collection of its own when the
// scale section did not run.
func runMemory(ctx context.Context, cfg Config, coll *mongo.Collection, w io.Writer) (*MemoryResult, error) {
	batches := &batchMonitor{}
	client, err := mongo.Connect(options.Client().ApplyURI(cfg.URI).SetMonitor(batches.monitor()))
	if err != nil {
		return nil, err
	}
	defer client.Disconnect(context.Background())
	name := "memory"
	if coll != nil {
		name = coll.Name()
	}
	s, err := mongosession.New(ctx, mongosession.Options{
		Client: client, Database: cfg.Database, Collection: name,
		AutoRemove: mongosession.AutoRemoveOff, Timeout: benchTimeout,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, err
	}
	defer s.Close()
	n, err := s.Collection().CountDocuments(ctx, bson.D{})
	if err != nil {
		return nil, err
	}
	if more := cfg.IterSessions - int(n); more > 0 {
		if err := insertSessions(ctx, s.Collection(), newTokens(more)); err != nil {
			return nil, err
		}
		n = int64(cfg.IterSessions)
	}
	every := max(int(n)/20, 1) // 20 samples

	// A first, short iteration sets up what any iteration needs (the
	// connection's buffers, the cursor's code paths) before the baseline.
	for _, err := range s.Iter(ctx) {
		if err != nil {
			return nil, err
		}
		break
	}
	batches.take()

	res := &MemoryResult{IterPeakLive: math.MinInt64}
	base, total0 := liveHeap()
	count := 0
	for _, err := range s.Iter(ctx) {
		if err != nil {
			return nil, err
		}
		count++
		if count%every == 0 {
			live, _ := liveHeap()
			res.IterPeakLive = max(res.IterPeakLive, int64(live)-int64(base))
		}
	}
	after, total1 := liveHeap()
	res.Batches, res.MaxBatch = batches.take()
	res.Sessions = count
	res.IterRetained = int64(after) - int64(base)
	res.IterAllocated = total1 - total0
	if int64(count) != n {
		return nil, fmt.Errorf("Iter yielded %d sessions of %d", count, n)
	}

	base, _ = liveHeap()
	all, err := s.AllCtx(ctx)
	if err != nil {
		return nil, err
	}
	held, _ := liveHeap()
	res.AllLive = int64(held) - int64(base)
	if len(all) != count {
		return nil, fmt.Errorf("AllCtx returned %d sessions of %d", len(all), count)
	}
	runtime.KeepAlive(all)

	printMemory(w, res)
	return res, nil
}

func mib(b int64) string { return fmt.Sprintf("%.2f", float64(b)/(1<<20)) }

func printMemory(w io.Writer, r *MemoryResult) {
	fmt.Fprintf(w, "## 4. Memory: iterating every live session\n\n")
	fmt.Fprintf(w, "%d live sessions of %d bytes; live heap measured after a GC, sampled 20 times during the iteration.\n\n", r.Sessions, len(sessionData))
	fmt.Fprintln(w, "| | MiB |")
	fmt.Fprintln(w, "|---|---:|")
	fmt.Fprintf(w, "| Store.Iter: peak live-heap growth while streaming | %s |\n", mib(r.IterPeakLive))
	fmt.Fprintf(w, "| Store.Iter: live-heap growth after the loop | %s |\n", mib(r.IterRetained))
	fmt.Fprintf(w, "| Store.Iter: allocated in all (garbage, collected along the way) | %s |\n", mib(int64(r.IterAllocated)))
	fmt.Fprintf(w, "| Store.Iter: cursor replies (find + getMore), largest reply | %d replies, largest %s |\n", r.Batches, mib(int64(r.MaxBatch)))
	fmt.Fprintf(w, "| AllCtx (scs's All): live-heap growth holding the map, for comparison | %s |\n", mib(r.AllLive))
	fmt.Fprintln(w)
}
