package robustness

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongosession/mongosession/internal/mongotest"
)

var (
	duration = flag.Duration("robust.duration", 2*time.Second, "how long each history runs (per face and seed); the long run uses 10m")
	seedFlag = flag.Uint64("robust.seed", 0, "run this seed only (to replay a failure); 0: the fixed seeds and one random seed")
	browsers = flag.Int("robust.browsers", 4, "virtual browsers per history")
	noFaults = flag.Bool("robust.nofaults", false, "run without injecting faults")
	dump     = flag.String("robust.dump", "", "write the whole history of a run that fails to this file")
)

// fixedSeeds run on every go test; one random seed is added and printed.
var fixedSeeds = []uint64{1, 2}

var (
	serverOnce sync.Once
	serverURI  string
	serialize  bool
	serialWhy  string // why the proxy serializes, for judged
	restart    func() error
	serverErr  error
	serverSkip string // why the harness cannot run against MONGODB_URI
	stopServer func()
)

func TestMain(m *testing.M) {
	code := m.Run()
	if stopServer != nil {
		stopServer()
	}
	os.Exit(code)
}

// server chooses the server the proxy stands in front of: the one
// MONGODB_URI names, or a test server of the harness's own, which it can
// stop and restart. It skips the test when MONGODB_URI names a deployment
// the proxy cannot stand in front of (several hosts, SRV, TLS), saying why.
// The proxy sends the test server one command at a time, and a server
// MONGODB_URI names too when concurrentIncrements shows that its updates of
// one document are not atomic.
func server(t *testing.T) {
	t.Helper()
	serverOnce.Do(func() {
		if uri := os.Getenv("MONGODB_URI"); uri != "" {
			_, err := parseTarget(uri)
			switch {
			case errors.Is(err, ErrNotProxiable):
				serverSkip = "MONGODB_URI: " + err.Error()
			case err != nil:
				serverErr = fmt.Errorf("MONGODB_URI: %w", err)
			default:
				serverURI = uri
				counted, sent, err := concurrentIncrements(t, uri)
				if err != nil {
					serverErr = fmt.Errorf("MONGODB_URI: probing the server's concurrent updates: %w", err)
					return
				}
				if counted != sent {
					serialize = true
					serialWhy = fmt.Sprintf("MONGODB_URI: the server counted %d of %d concurrent $inc on one document "+
						"(its updates are not atomic, as FerretDB 1.x's are not), so the proxy sends it one command at a time", counted, sent)
				}
			}
			return
		}
		dir, err := os.MkdirTemp("", "mongosession-robust-")
		if err != nil {
			serverErr = err
			return
		}
		addr := mongotest.RestartableAddr(t)
		s, err := mongotest.StartServer(dir, addr)
		if err != nil {
			serverErr = err
			return
		}
		var mu sync.Mutex
		serverURI, serialize = s.URI, true
		serialWhy = "test server (FerretDB 1.24): its updates are a read and a write without a lock, so the proxy sends it one command at a time"
		restart = func() error {
			mu.Lock()
			defer mu.Unlock()
			s.Stop()
			ns, err := mongotest.StartServer(dir, addr)
			if err != nil {
				return err
			}
			s = ns
			return nil
		}
		stopServer = func() {
			mu.Lock()
			s.Stop()
			mu.Unlock()
			os.RemoveAll(dir)
		}
	})
	if serverErr != nil {
		t.Fatal(serverErr)
	}
	if serverSkip != "" {
		t.Skip(serverSkip)
	}
}

// judged says what the run can and cannot judge on this server.
func judged(t *testing.T) {
	if serialize {
		t.Log(serialWhy + ". " +
			"Every check runs, on a server whose commands are atomic by construction; NOT judged here, and only with MONGODB_URI naming a server whose updates are atomic: " +
			"the server's own atomicity under concurrent commands on one document (native Incr's $inc from two app instances at once, " +
			"a byte-level commit's exclusion of an ended marker racing the Delete that writes it)")
	} else {
		t.Log("MONGODB_URI: commands reach the server concurrently; every check runs, including the server's own atomicity")
	}
}

// concurrentIncrements sends concurrent findAndModify $inc commands on one
// document, as two app instances' native Incr do, and returns how many the
// document counts and how many were sent. On MongoDB, whose
// single-document updates are atomic, the two are equal; FerretDB 1.x
// applies an update as a read and a write without a lock, and loses many.
func concurrentIncrements(t *testing.T, uri string) (counted, sent int, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		return 0, 0, err
	}
	defer client.Disconnect(context.Background())
	coll := client.Database(mongotest.Database).Collection(mongotest.Collection(t) + "_atomicity")
	defer coll.Drop(context.Background())
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "probe"}, {Key: "n", Value: 0}}); err != nil {
		return 0, 0, err
	}
	const workers, each = 8, 50
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				inc := bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}}
				if err := coll.FindOneAndUpdate(ctx, bson.D{{Key: "_id", Value: "probe"}}, inc).Err(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return 0, 0, err
	}
	var doc struct {
		N int `bson:"n"`
	}
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: "probe"}}).Decode(&doc); err != nil {
		return 0, 0, err
	}
	return doc.N, workers * each, nil
}

func seeds(t *testing.T) []uint64 {
	if *seedFlag != 0 {
		return []uint64{*seedFlag}
	}
	return append(append([]uint64(nil), fixedSeeds...), randomSeed)
}

var randomSeed = rand.Uint64()%1_000_000 + 3

func config(t *testing.T, face string, seed uint64) Config {
	server(t)
	return Config{Face: face, Seed: seed, Duration: *duration, Browsers: *browsers, Tabs: 2,
		Faults: !*noFaults, URI: serverURI, Serialize: serialize, Restart: restart,
		Database: mongotest.Database, Collection: mongotest.Collection(t)}
}

// TestRobustness runs every face with random browsers and faults, and
// checks each history against the face's contract.
func TestRobustness(t *testing.T) {
	server(t)
	judged(t)
	t.Logf("seeds %v (random seed %d); replay one with -robust.seed=N", seeds(t), randomSeed)
	for _, face := range []string{"scs", "gorilla", "fiber", "native"} {
		t.Run(face, func(t *testing.T) {
			for _, seed := range seeds(t) {
				cfg := config(t, face, seed)
				h, err := Run(context.Background(), cfg)
				if err != nil {
					t.Fatal(err)
				}
				rep := Check(h, Faces[face].bytes)
				t.Logf("seed %d: %d requests (%d acknowledged, %d failed), %d faults (%s), %d counters checked (%d undecided), "+
					"%d requests with an ended cookie, %d values read back, %d violations",
					seed, rep.Ops, rep.Acked, rep.Failed, rep.Faults, faultKinds(h), rep.Sessions, rep.Undecided,
					rep.EndedProbes, rep.ValueReads, len(rep.Violations))
				if len(rep.Violations) > 0 {
					t.Errorf("%s", describe(cfg, rep))
					if *dump != "" {
						writeHistory(t, *dump, h)
					}
				}
			}
		})
	}
}

// describe is the failure report: the seed, each violation with its
// window, and how to replay.
func describe(cfg Config, rep Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "face %s, seed %d: %d violations\n", cfg.Face, cfg.Seed, len(rep.Violations))
	for i, v := range rep.Violations {
		if i == 5 {
			fmt.Fprintf(&b, "... and %d more\n", len(rep.Violations)-i)
			break
		}
		b.WriteString(v.String())
	}
	fmt.Fprintf(&b, "replay: go test ./robustness -run 'TestRobustness/%s$' -robust.seed=%d -robust.duration=%v"+
		" (the same random choices; the interleaving also depends on timing)\n", cfg.Face, cfg.Seed, cfg.Duration)
	return b.String()
}

// TestSeededBugs proves that the checker catches each seeded bug: it runs
// the app with the bug until a history shows the violation the bug
// causes, and fails if none does within the attempts.
func TestSeededBugs(t *testing.T) {
	for _, tc := range []struct {
		bug, face string
		checks    []string
	}{
		{BugLostIncrement, "native", []string{"counter"}},
		{BugResurrection, "scs", []string{"ended", "resurrection"}},
		{BugFixation, "native", []string{"fixation"}},
	} {
		t.Run(tc.bug, func(t *testing.T) {
			for attempt := range 5 {
				cfg := config(t, tc.face, uint64(100+attempt))
				cfg.Bug, cfg.Faults, cfg.Duration, cfg.Tabs = tc.bug, false, 2*time.Second, 3
				h, err := Run(context.Background(), cfg)
				if err != nil {
					t.Fatal(err)
				}
				rep := Check(h, Faces[tc.face].bytes)
				for _, v := range rep.Violations {
					for _, c := range tc.checks {
						if v.Check == c {
							t.Logf("caught on seed %d (%d requests):\n%s", cfg.Seed, rep.Ops, v)
							return
						}
					}
				}
				t.Logf("seed %d: not caught in %d requests (%d violations of other kinds)", cfg.Seed, rep.Ops, len(rep.Violations))
			}
			t.Fatalf("the checker did not catch the seeded bug %s", tc.bug)
		})
	}
}

// faultKinds counts a history's faults by kind.
func faultKinds(h *History) string {
	n := map[string]int{}
	var kinds []string
	for _, f := range h.Faults() {
		k := strings.Fields(f.What)[0]
		if n[k] == 0 {
			kinds = append(kinds, k)
		}
		n[k]++
	}
	var parts []string
	for _, k := range kinds {
		parts = append(parts, fmt.Sprintf("%s %d", k, n[k]))
	}
	return strings.Join(parts, ", ")
}

// writeHistory writes every request and fault of h to path, in order.
func writeHistory(t *testing.T, path string, h *History) {
	var b strings.Builder
	for _, f := range h.Faults() {
		fmt.Fprintf(&b, "fault %9.3fs %s\n", f.At.Seconds(), f.What)
	}
	for _, o := range h.Ops() {
		fmt.Fprintf(&b, "%s\n", o)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Error(err)
	}
	t.Logf("history written to %s", path)
}
