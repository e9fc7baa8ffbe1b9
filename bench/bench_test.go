package bench_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/mongosession/mongosession/bench"
	"github.com/mongosession/mongosession/internal/mongotest"
)

func TestMain(m *testing.M) { os.Exit(mongotest.Main(m)) }

// TestSmoke runs every section of the benchmark command once on tiny sizes,
// so that none of its code paths rots. It checks what the sections report
// about behaviour (commands per request, sessions iterated), never timings:
// timings belong to the command's output, not to tests.
func TestSmoke(t *testing.T) {
	cfg := bench.Config{
		URI:          mongotest.URI(t),
		Database:     mongotest.Database + "_bench",
		Rounds:       1,
		Batch:        2,
		Sizes:        []int{20, 40},
		Lookups:      2,
		IterSessions: 50,
	}
	var out bytes.Buffer
	res, err := bench.Run(context.Background(), cfg, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}

	if len(res.Overhead) != 4 {
		t.Errorf("overhead: %d operations measured, want 4", len(res.Overhead))
	}
	for _, r := range res.Overhead {
		if r.StoreNs <= 0 || r.RawNs <= 0 || r.BareNs <= 0 || r.StoreAllocs <= 0 {
			t.Errorf("overhead of %s: nothing measured: %+v", r.Op, r)
		}
	}

	cmds := map[string]string{}
	for _, r := range res.RoundTrips {
		if r.Note == "" {
			cmds[r.Face+"/"+r.Kind] = strings.Join(r.Commands, ",")
		}
		if len(r.WrittenTwice) > 0 {
			t.Errorf("%s, %s: %d documents written twice in one request", r.Face, r.Kind, len(r.WrittenTwice))
		}
	}
	for _, face := range []string{"scs", "gorilla", "native"} {
		if got := cmds[face+"/read-only"]; got != "find" {
			t.Errorf("%s: a read-only request sent %q, want one find", face, got)
		}
	}
	for kind, want := range map[string]string{
		"one value changed":           "findAndModify",
		"value set, session not read": "update",
		"logout":                      "delete",
	} {
		if got := cmds["native/"+kind]; got != want {
			t.Errorf("native, %s: sent %q, want %s", kind, got, want)
		}
	}
	if got := cmds["native/read-only, idle timeout"]; got != "find" {
		t.Errorf("native: a read-only request with an idle timeout, within the touch window, sent %q, want one find", got)
	}
	if len(cmds) == 0 {
		t.Error("round trips: nothing measured")
	}

	if len(res.Scale) != 2 || res.Scale[1].Sessions != 40 || res.Scale[1].StoreMedian <= 0 {
		t.Errorf("scale: %+v", res.Scale)
	}
	if res.Memory == nil || res.Memory.Sessions != 50 {
		t.Errorf("memory: %+v, want 50 sessions iterated", res.Memory)
	}
}
