// Package bench measures mongosession against the raw MongoDB driver and
// counts what each face sends over the wire. Its command,
// cmd/mongosession-bench, runs every section and prints the tables that
// BENCHMARKS.md records:
//
//  1. overhead: Find, Commit, Touch and Delete through the Store versus the
//     same commands written with the driver, on one client and collection,
//     interleaved (ABBA) so that drift of a shared machine cancels; medians
//     of the per-round ratios of time and the allocations per operation;
//  2. round trips: MongoDB commands per HTTP request for each face (scs,
//     gorilla, fiber, native) and each kind of request, counted with the
//     driver's command monitor, and whether any document was written twice
//     in one request;
//  3. scale: median Find latency of the store and of a raw find by _id at
//     growing numbers of stored sessions, and the flatness ratio of each
//     (largest size over 1 000);
//  4. memory: live-heap growth while Store.Iter streams every session,
//     against AllCtx, which holds them all;
//  5. end to end: each face's seed app on a loopback listener under a
//     bounded load of concurrent clients with a cookie jar each (and the
//     same app written with the driver alone): requests per second, p50
//     and p99 latency, errors, commands per request (endtoend.go);
//  6. session size: Find and Commit of 1 KiB to 1 MiB sessions through
//     the store and with the driver: time, Go allocations and the bytes of
//     the command and reply on the wire (sizes.go);
//  7. peers: the same work through the MongoDB stores a user would
//     otherwise install for scs, fiber and gorilla, each against our face
//     for that framework: Find medians at each size, the seed app end to
//     end, and what each does on expiry (peers.go, peerstores.go).
//
// The module is separate from the library's so that its dependencies (scs,
// gorilla, fiber) stay out of a program that imports mongosession.
package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Config selects what Run measures and how much. Zero values mean the
// defaults of the command (see DefaultConfig); tests use tiny sizes.
type Config struct {
	// URI names the server. Required.
	URI string

	// Database holds the benchmark's collections, which Run drops when it
	// finishes. Default: "mongosession_bench".
	Database string

	// Rounds is the number of interleaved rounds of the overhead section.
	Rounds int

	// Batch is the number of operations of each side in one round.
	Batch int

	// Sizes are the numbers of stored sessions of the scale and peers
	// sections, in increasing order; the first is the reference of the
	// flatness ratio.
	Sizes []int

	// Lookups is the number of finds of each side at each size.
	Lookups int

	// IterSessions is the number of live sessions the memory section
	// iterates over.
	IterSessions int

	// LoadClients is the number of concurrent clients of the end-to-end
	// section, LoadDuration how long they load each face (default 1 s),
	// and LoadRequests, when positive, the most requests a face receives.
	LoadClients  int
	LoadDuration time.Duration
	LoadRequests int

	// SessionSizes are the session sizes in bytes of the size section
	// (default 1 KiB); SizeRounds and SizeBatch its interleaved rounds and
	// the operations a side in each.
	SessionSizes []int
	SizeRounds   int
	SizeBatch    int

	// Sections limits the run to some of "overhead", "roundtrips",
	// "scale", "memory", "endtoend", "sizes", "peers". Empty: all.
	Sections []string
}

// DefaultConfig is the command's configuration: large adds the 100 000
// sessions of the scale and memory sections, slow on FerretDB 1.24.
func DefaultConfig(uri string, large bool) Config {
	c := Config{
		URI:          uri,
		Rounds:       51,
		Batch:        20,
		Sizes:        []int{1000, 10000},
		Lookups:      100,
		IterSessions: 10000,
		LoadClients:  32,
		LoadDuration: 10 * time.Second,
		SessionSizes: []int{1 << 10, 64 << 10, 1 << 20},
		SizeRounds:   15,
		SizeBatch:    10,
	}
	if large {
		c.Sizes = append(c.Sizes, 100000)
		c.IterSessions = 100000
	}
	return c
}

func (c *Config) defaults() {
	if c.Database == "" {
		c.Database = "mongosession_bench"
	}
	if c.Rounds <= 0 {
		c.Rounds = 1
	}
	if c.Batch <= 0 {
		c.Batch = 2
	}
	if c.Batch%2 != 0 {
		c.Batch++ // ABBA halves
	}
	if c.Lookups <= 0 {
		c.Lookups = 1
	}
}

func (c *Config) wants(section string) bool {
	if len(c.Sections) == 0 {
		return true
	}
	for _, s := range c.Sections {
		if s == section {
			return true
		}
	}
	return false
}

// Results are what Run measured, section by section (nil when skipped).
type Results struct {
	Overhead   []OverheadResult
	RoundTrips []RoundTripResult
	Scale      []ScaleResult
	Memory     *MemoryResult
	EndToEnd   []EndToEndResult
	Sizes      []SizeResult
	Peers      []PeerResult
}

// Run measures the sections of cfg against cfg.URI and prints their tables
// to w as it goes (Markdown, as BENCHMARKS.md holds them).
func Run(ctx context.Context, cfg Config, w io.Writer) (*Results, error) {
	cfg.defaults()
	if cfg.URI == "" {
		return nil, fmt.Errorf("bench: Config.URI is required")
	}
	fmt.Fprintf(w, "mongosession benchmarks: %s, %s/%s, GOMAXPROCS %d, %s\n\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.GOMAXPROCS(0), time.Now().UTC().Format(time.RFC3339))

	// One client without a monitor for the timings; the round-trip
	// section makes its own, monitored one.
	client, err := mongo.Connect(options.Client().ApplyURI(cfg.URI))
	if err != nil {
		return nil, fmt.Errorf("bench: connecting: %w", err)
	}
	defer func() {
		_ = client.Database(cfg.Database).Drop(context.Background())
		_ = client.Disconnect(context.Background())
	}()
	if err := client.Database(cfg.Database).Drop(ctx); err != nil {
		return nil, fmt.Errorf("bench: dropping %s: %w", cfg.Database, err)
	}

	res := &Results{}
	if cfg.wants("overhead") {
		if res.Overhead, err = runOverhead(ctx, cfg, client, w); err != nil {
			return res, fmt.Errorf("bench: overhead: %w", err)
		}
	}
	if cfg.wants("roundtrips") {
		if res.RoundTrips, err = runRoundTrips(ctx, cfg, w); err != nil {
			return res, fmt.Errorf("bench: round trips: %w", err)
		}
	}
	var scaleColl *mongo.Collection
	if cfg.wants("scale") {
		if res.Scale, scaleColl, err = runScale(ctx, cfg, client, w); err != nil {
			return res, fmt.Errorf("bench: scale: %w", err)
		}
	}
	if cfg.wants("memory") {
		if res.Memory, err = runMemory(ctx, cfg, scaleColl, w); err != nil {
			return res, fmt.Errorf("bench: memory: %w", err)
		}
	}
	if cfg.wants("endtoend") {
		if res.EndToEnd, err = runEndToEnd(ctx, cfg, w); err != nil {
			return res, fmt.Errorf("bench: end to end: %w", err)
		}
	}
	if cfg.wants("sizes") {
		if res.Sizes, err = runSizes(ctx, cfg, client, w); err != nil {
			return res, fmt.Errorf("bench: sizes: %w", err)
		}
	}
	if cfg.wants("peers") {
		if res.Peers, err = runPeers(ctx, cfg, client, w); err != nil {
			return res, fmt.Errorf("bench: peers: %w", err)
		}
	}
	return res, nil
}

// URIFromEnv returns MONGODB_URI when it is set. Otherwise it starts the
// test server (FerretDB 1.24 on SQLite, in a temporary directory) as a
// separate process, so that its CPU and allocations are not counted as
// ours, and returns its URI and a function that stops it. The working
// directory must be inside the repository (the server is built from its
// testserver module).
func URIFromEnv(w io.Writer) (uri string, stop func(), err error) {
	if uri := os.Getenv("MONGODB_URI"); uri != "" {
		fmt.Fprintln(w, "server: the one MONGODB_URI names")
		return uri, func() {}, nil
	}
	return startEmbedded(w)
}
