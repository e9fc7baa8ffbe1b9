package bench_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/mongosession/mongosession/bench"
	"github.com/mongosession/mongosession/internal/mongotest"
)

// TestSmokeEndToEndAndSizes runs the end-to-end and session-size sections
// on tiny sizes and checks what they report about behaviour: every answer
// of every face right, the commands each request sent, the same command on
// the wire through the store as with the driver. Never timings.
func TestSmokeEndToEndAndSizes(t *testing.T) {
	const clients, limit = 3, 24
	cfg := bench.Config{
		URI:      mongotest.URI(t),
		Database: mongotest.Database + "_bench_e2e",
		Sections: []string{"endtoend", "sizes"},
		// The request limit ends each face's load; the duration is only a
		// ceiling for a very slow machine.
		LoadClients:  clients,
		LoadDuration: time.Minute,
		LoadRequests: limit,
		SessionSizes: []int{1 << 10, 64 << 10},
		SizeRounds:   1,
		SizeBatch:    2,
	}
	var out bytes.Buffer
	res, err := bench.Run(context.Background(), cfg, &out)
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}

	faces := map[string]bool{}
	for _, r := range res.EndToEnd {
		faces[r.Face] = true
		if r.Errors > 0 {
			t.Errorf("%s: %d of %d requests failed; the first: %s", r.Face, r.Errors, r.Requests, r.FirstError)
		}
		if r.Requests < clients || r.Requests > limit {
			t.Errorf("%s: %d requests answered, want %d to %d", r.Face, r.Requests, clients, limit)
			continue
		}
		// Each request counts one view: one write (an upsert, an insert
		// for native's new session, a findAndModify for its Incr), and at
		// most one find; nothing else.
		var writes, finds int64
		for name, n := range r.Commands {
			switch name {
			case "update", "insert", "findAndModify":
				writes += n
			case "find":
				finds += n
			default:
				t.Errorf("%s: %d %q commands during the load", r.Face, n, name)
			}
		}
		if writes != int64(r.Requests) {
			t.Errorf("%s: %d writes for %d requests, want one each: %v", r.Face, writes, r.Requests, r.Commands)
		}
		if finds > int64(r.Requests) {
			t.Errorf("%s: %d finds for %d requests, want at most one each: %v", r.Face, finds, r.Requests, r.Commands)
		}
	}
	for _, face := range []string{"scs", "gorilla", "fiber", "native", "raw driver"} {
		if !faces[face] {
			t.Errorf("end to end: %s not measured", face)
		}
	}

	if len(res.Sizes) != 4 {
		t.Fatalf("sizes: %d results, want Find and Commit at 2 sizes: %+v", len(res.Sizes), res.Sizes)
	}
	for _, r := range res.Sizes {
		// The store sends the command the driver does: same size on the
		// wire, give or take the bytes of a session ID and cluster time.
		if d := r.StoreSent - r.RawSent; d < -64 || d > 64 {
			t.Errorf("%s of %d bytes: the store sent %d bytes, the driver %d", r.Op, r.Size, r.StoreSent, r.RawSent)
		}
		if d := r.StoreReceived - r.RawReceived; d < -64 || d > 64 {
			t.Errorf("%s of %d bytes: the store received %d bytes, the driver %d", r.Op, r.Size, r.StoreReceived, r.RawReceived)
		}
		moved := r.StoreReceived
		if r.Op == "Commit" {
			moved = r.StoreSent
		}
		if moved < int64(r.Size) || moved > int64(r.Size)+1024 {
			t.Errorf("%s of %d bytes moved %d bytes on the wire, want the session and a small envelope", r.Op, r.Size, moved)
		}
		if r.StoreAllocBytes <= 0 || r.RawAllocBytes <= 0 || r.StoreNs <= 0 || r.RawNs <= 0 {
			t.Errorf("%s of %d bytes: nothing measured: %+v", r.Op, r.Size, r)
		}
	}
}
