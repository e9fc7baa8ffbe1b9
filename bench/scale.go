package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/rawdriver"
)

// ScaleResult is the Find latency at one number of stored sessions.
type ScaleResult struct {
	Sessions int
	// StoreMedian and RawMedian are the median latencies of Store.FindCtx
	// and of the raw driver's find by _id, interleaved one by one.
	StoreMedian, RawMedian time.Duration
}

// benchTimeout bounds the benchmark stores' operations: a scan of 100 000
// documents on FerretDB 1.24 takes longer than the default 5 s.
const benchTimeout = 5 * time.Minute

func runScale(ctx context.Context, cfg Config, client *mongo.Client, w io.Writer) ([]ScaleResult, *mongo.Collection, error) {
	s, err := mongosession.New(ctx, mongosession.Options{
		Client: client, Database: cfg.Database, Collection: "scale",
		AutoRemove: mongosession.AutoRemoveOff, Timeout: benchTimeout,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, nil, err
	}
	defer s.Close()
	coll := s.Collection()

	var tokens []string
	var results []ScaleResult
	for _, size := range cfg.Sizes {
		if more := size - len(tokens); more > 0 {
			t := newTokens(more)
			if err := insertSessions(ctx, coll, t); err != nil {
				return nil, nil, err
			}
			tokens = append(tokens, t...)
		}
		lookups := cfg.Lookups
		if size >= 100000 {
			lookups = max(lookups/2, 1) // each lookup scans on FerretDB 1.24
		}
		var st, rw []float64
		for i := -1; i < lookups; i++ { // i == -1 warms up
			t := tokens[rand.IntN(len(tokens))]
			// Alternate which side goes first.
			sides := []bool{i%2 == 0, i%2 != 0}
			for _, isStore := range sides {
				start := time.Now()
				var found bool
				if isStore {
					_, found, err = s.FindCtx(ctx, t)
				} else {
					_, found, err = rawdriver.Find(ctx, coll, t)
				}
				d := time.Since(start)
				if err = mustFind(found, err); err != nil {
					return nil, nil, fmt.Errorf("find at %d sessions: %w", size, err)
				}
				if i < 0 {
					continue
				}
				if isStore {
					st = append(st, float64(d))
				} else {
					rw = append(rw, float64(d))
				}
			}
		}
		results = append(results, ScaleResult{Sessions: size, StoreMedian: time.Duration(median(st)), RawMedian: time.Duration(median(rw))})
	}
	printScale(w, cfg, results)
	return results, coll, nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/1e6) }

func printScale(w io.Writer, cfg Config, rs []ScaleResult) {
	fmt.Fprintf(w, "## 3. Scale: Find latency as sessions grow\n\n")
	fmt.Fprintf(w, "Median of %d finds a side at each size (half of that from 100 000), store and raw `find {_id}` interleaved, random live sessions.\n\n", cfg.Lookups)
	fmt.Fprintln(w, "| sessions | store median ms | raw median ms | store / raw |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|")
	for _, r := range rs {
		fmt.Fprintf(w, "| %d | %s | %s | %.3f |\n", r.Sessions, ms(r.StoreMedian), ms(r.RawMedian), float64(r.StoreMedian)/float64(r.RawMedian))
	}
	fmt.Fprintln(w)
	if len(rs) > 1 {
		first, last := rs[0], rs[len(rs)-1]
		fmt.Fprintf(w, "Flatness (median at %d / median at %d): store %.2f, raw `{_id}` find %.2f.\n\n",
			last.Sessions, first.Sessions,
			float64(last.StoreMedian)/float64(first.StoreMedian), float64(last.RawMedian)/float64(first.RawMedian))
	}
}
