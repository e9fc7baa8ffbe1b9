package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongosession/mongosession/internal/mongotest"
)

// expiredFixture fills a fresh collection with n expired byte-level
// sessions and 5 live ones, and returns the flags naming it and the
// collection.
func expiredFixture(t *testing.T, n int) ([]string, *mongo.Collection) {
	t.Helper()
	c, err := mongo.Connect(options.Client().ApplyURI(mongotest.URI(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
	name := mongotest.Collection(t)
	coll := c.Database(mongotest.Database).Collection(name)
	t.Cleanup(func() { _ = coll.Drop(context.Background()) })
	past, future := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	docs := make([]any, 0, 1000)
	flush := func() {
		if len(docs) > 0 {
			if _, err := coll.InsertMany(ctx, docs); err != nil {
				t.Fatal(err)
			}
			docs = docs[:0]
		}
	}
	for i := range n + 5 {
		exp, id := past, fmt.Sprintf("expired-%06d", i)
		if i >= n {
			exp, id = future, fmt.Sprintf("live-%d", i)
		}
		docs = append(docs, bson.D{{Key: "_id", Value: id}, {Key: "session", Value: bson.Binary{Data: []byte("v")}}, {Key: "expires", Value: exp}})
		if len(docs) == cap(docs) {
			flush()
		}
	}
	flush()
	return []string{"-db", mongotest.Database, "-collection", name}, coll
}

// deletes counts the delete commands the admin command's client sends,
// and calls onDelete (if set) with the count as each one starts.
type deletes struct {
	n        atomic.Int64
	onDelete func(n int64)
}

func (d *deletes) watch(t *testing.T) {
	monitor = &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		if e.CommandName == "delete" {
			n := d.n.Add(1)
			if d.onDelete != nil {
				d.onDelete(n)
			}
		}
	}}
	t.Cleanup(func() { monitor = nil })
}

func countIn(t *testing.T, coll *mongo.Collection, filter bson.D) int64 {
	t.Helper()
	n, err := coll.CountDocuments(ctx, filter)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

var expiredFilter = bson.D{{Key: "expires", Value: bson.D{{Key: "$lte", Value: time.Now()}}}}

// TestAdminDeleteExpiredBatches: 20,000 expired documents, -batch 1000:
// 20 delete commands, 20,000 reported, the live sessions kept.
func TestAdminDeleteExpiredBatches(t *testing.T) {
	flags, coll := expiredFixture(t, 20_000)
	env := map[string]string{"MONGODB_URI": mongotest.URI(t)}
	var d deletes
	d.watch(t)
	code, out, errs := admin(t, env, append(flags, "delete-expired", "-batch", "1000", "-json")...)
	if code != 0 {
		t.Fatalf("delete-expired = %d %q %q", code, out, errs)
	}
	var r deleteResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("delete-expired -json: %v\n%s", err, out)
	}
	if r.Deleted != 20_000 || r.Batches != 20 || r.Interrupted {
		t.Errorf("delete-expired -json = %+v; want 20000 deleted in 20 batches", r)
	}
	if got := d.n.Load(); got != 20 {
		t.Errorf("delete-expired -batch 1000 sent %d delete commands for 20,000 documents; want 20", got)
	}
	if errs != "" {
		t.Errorf("stderr is not a terminal, yet delete-expired wrote %q", errs)
	}
	if n := countIn(t, coll, bson.D{}); n != 5 {
		t.Errorf("%d documents left; want the 5 live sessions", n)
	}
}

// TestAdminDeleteExpiredInterrupted: cancelled while its third batch is
// in flight, delete-expired finishes that batch, stops, reports exactly
// what it deleted and exits 1.
func TestAdminDeleteExpiredInterrupted(t *testing.T) {
	flags, coll := expiredFixture(t, 20_000)
	env := map[string]string{"MONGODB_URI": mongotest.URI(t)}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d := deletes{onDelete: func(n int64) {
		if n == 3 {
			cancel() // Ctrl-C while the third delete is on the wire
		}
	}}
	d.watch(t)
	var out, errb bytes.Buffer
	code := run(cctx, append(flags, "delete-expired", "-batch", "1000"), func(k string) string { return env[k] }, &out, &errb)
	if code != 1 {
		t.Fatalf("interrupted delete-expired exited %d; want 1\n%s%s", code, out.String(), errb.String())
	}
	if got := out.String(); got != "deleted 3000 expired sessions (interrupted)\n" {
		t.Errorf("stdout = %q; want the 3 batches deleted", got)
	}
	if !strings.Contains(errb.String(), "interrupted: 3000 expired sessions deleted in 3 batches") {
		t.Errorf("stderr = %q; want the interruption and the count", errb.String())
	}
	// Nothing half-done: what is left is exactly what was not reported.
	if n := countIn(t, coll, expiredFilter); n != 17_000 {
		t.Errorf("%d expired documents left; want 17000 (20000 - 3000 reported)", n)
	}
	if n := d.n.Load(); n != 3 {
		t.Errorf("%d delete commands sent; want 3 (none after the interruption)", n)
	}
}

func TestAdminClearBatches(t *testing.T) {
	flags, coll := expiredFixture(t, 2_495)
	env := map[string]string{"MONGODB_URI": mongotest.URI(t)}
	var d deletes
	d.watch(t)
	code, out, errs := admin(t, env, append(flags, "clear", "-yes", "-batch", "1000", "-pause", "10ms")...)
	if code != 0 || !strings.HasSuffix(out, ": 2500 documents deleted, indexes kept\n") {
		t.Fatalf("clear -yes = %d %q %q", code, out, errs)
	}
	if got := d.n.Load(); got != 3 {
		t.Errorf("clear -batch 1000 of 2,500 documents sent %d delete commands; want 3", got)
	}
	if n := countIn(t, coll, bson.D{}); n != 0 {
		t.Errorf("%d documents left after clear", n)
	}
	code, _, errs = admin(t, env, append(flags, "clear", "-yes", "-batch", "0")...)
	if code != 2 || !strings.Contains(errs, "-batch must be") {
		t.Errorf("clear -batch 0 = %d %q; want a usage error", code, errs)
	}
	code, _, errs = admin(t, env, append(flags, "delete-expired", "-progress", "-quiet")...)
	if code != 2 || !strings.Contains(errs, "contradict") {
		t.Errorf("-progress -quiet = %d %q; want a usage error", code, errs)
	}
}

// progressShown reports whether stderr holds the progress bar: the
// description, the count and the rate.
func progressShown(stderr string) bool {
	return strings.Contains(stderr, "deleting expired sessions") && strings.Contains(stderr, "3000/3000") && strings.Contains(stderr, "docs/s")
}

// TestAdminProgress: the bar shows on a terminal or with -progress, and
// not with -quiet or on a pipe.
func TestAdminProgress(t *testing.T) {
	env := map[string]string{"MONGODB_URI": mongotest.URI(t)}
	onPTY := func(args ...string) (int, string) {
		ptmx, tty, err := pty.Open()
		if err != nil {
			t.Skipf("no pseudo-terminal here: %v", err)
		}
		defer ptmx.Close()
		var seen bytes.Buffer
		done := make(chan struct{})
		go func() {
			defer close(done)
			io.Copy(&seen, ptmx) // until the terminal is closed (EIO)
		}()
		var out bytes.Buffer
		code := run(ctx, args, func(k string) string { return env[k] }, &out, tty)
		tty.Close()
		<-done
		return code, seen.String()
	}

	flags, _ := expiredFixture(t, 3000)
	code, stderr := onPTY(append(flags, "delete-expired")...)
	if code != 0 || !progressShown(stderr) {
		t.Errorf("on a terminal: exit %d, stderr %q; want the progress bar", code, stderr)
	}

	flags, _ = expiredFixture(t, 3000)
	code, stderr = onPTY(append(flags, "delete-expired", "-quiet")...)
	if code != 0 || stderr != "" {
		t.Errorf("-quiet on a terminal: exit %d, stderr %q; want nothing", code, stderr)
	}

	flags, _ = expiredFixture(t, 3000)
	code, out, errs := admin(t, env, append(flags, "delete-expired", "-progress")...)
	if code != 0 || !progressShown(errs) || out != "deleted 3000 expired sessions\n" {
		t.Errorf("-progress on a pipe: exit %d, stdout %q, stderr %q; want the bar on stderr", code, out, errs)
	}

	flags, _ = expiredFixture(t, 3000)
	code, out, errs = admin(t, env, append(flags, "delete-expired")...)
	if code != 0 || errs != "" || out != "deleted 3000 expired sessions\n" {
		t.Errorf("on a pipe: exit %d, stdout %q, stderr %q; want no bar", code, out, errs)
	}
}

// TestAdminCtrlC runs the built command as an operator would and presses
// Ctrl-C (SIGINT) once the progress bar shows: it stops between batches,
// says how many it deleted, and exits 1.
func TestAdminCtrlC(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	bin := filepath.Join(t.TempDir(), "mongosession")
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if b, err := exec.Command(goBin, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	flags, coll := expiredFixture(t, 5000)
	cmd := exec.Command(bin, append(flags, "delete-expired", "-batch", "100", "-pause", "20ms", "-progress")...)
	cmd.Env = append(os.Environ(), "MONGODB_URI="+mongotest.URI(t))
	var out bytes.Buffer
	cmd.Stdout = &out
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var errText strings.Builder
	var once sync.Once
	r := bufio.NewReader(stderr)
	for {
		chunk, err := r.ReadString('\r')
		errText.WriteString(chunk)
		if strings.Contains(chunk, "/5000") && !strings.Contains(chunk, " 0/5000") {
			once.Do(func() { _ = cmd.Process.Signal(syscall.SIGINT) })
		}
		if err != nil {
			break
		}
	}
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("after Ctrl-C: %v; want exit status 1\nstdout %q\nstderr %q", err, out.String(), errText.String())
	}
	var deleted int64
	if _, err := fmt.Sscanf(out.String(), "deleted %d expired sessions (interrupted)\n", &deleted); err != nil || deleted%100 != 0 || deleted <= 0 || deleted >= 5000 {
		t.Fatalf("stdout %q (%v); want a partial count, a whole number of batches", out.String(), err)
	}
	if left := countIn(t, coll, expiredFilter); left != 5000-deleted {
		t.Errorf("%d expired documents left; the command reported %d of 5000 deleted", left, deleted)
	}
	if !strings.Contains(errText.String(), "interrupted") {
		t.Errorf("stderr %q does not say it was interrupted", errText.String())
	}
}
