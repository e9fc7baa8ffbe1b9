package httpsession_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/mongosession/mongosession"
)

// pausing serves one request that loads its session, waits for the test to
// end the session, then runs after.
func pausing(t *testing.T, e *env, after func(r *http.Request) error) (loaded, resume chan struct{}, done chan error) {
	loaded, resume, done = make(chan struct{}), make(chan struct{}), make(chan error, 1)
	e.srv.Config.Handler = e.m.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/pause" {
			e.handler(t).ServeHTTP(w, r)
			return
		}
		close(loaded)
		<-resume
		done <- after(r)
	}))
	return loaded, resume, done
}

func TestIncrAfterRevokeStartsANewSession(t *testing.T) {
	e := newEnv(t, envConfig{})
	c := e.client(t)
	e.mustGet(t, c, "/login?user=alice")
	e.mustGet(t, c, "/incr?k=n")
	old := e.token(c)
	var got int64
	loaded, resume, done := pausing(t, e, func(r *http.Request) error {
		var err error
		got, err = e.m.Incr(r.Context(), "n", 1)
		return err
	})
	answered := make(chan struct{})
	go func() { e.try(c, "/pause"); close(answered) }()
	<-loaded
	if n, err := e.m.RevokeUser(context.Background(), "alice"); err != nil || n != 1 {
		t.Fatalf("RevokeUser: %d %v", n, err)
	}
	close(resume)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got != 1 {
		t.Errorf("Incr on a revoked session returned %d, want 1 in a new session", got)
	}
	<-answered
	if e.doc(t, old) != nil {
		t.Fatal("Incr brought the revoked session back")
	}
	if e.token(c) == old {
		t.Error("the revoked token was kept")
	}
	if u := e.mustGet(t, c, "/user"); u != "" {
		t.Errorf("the new session carries the revoked user %q", u)
	}
}

func TestRenewAfterRevokeStaysRevoked(t *testing.T) {
	e := newEnv(t, envConfig{})
	c := e.client(t)
	e.mustGet(t, c, "/login?user=alice")
	loaded, resume, done := pausing(t, e, func(r *http.Request) error {
		return e.m.RenewToken(r.Context())
	})
	answered := make(chan struct{})
	go func() { e.try(c, "/pause"); close(answered) }()
	<-loaded
	if _, err := e.m.RevokeUser(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	close(resume)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	<-answered
	if n := e.count(t); n != 0 {
		t.Fatalf("%d documents after renewing a revoked session, want 0", n)
	}
}

// TestNoTokenInLogs runs failing, hostile and normal requests with the
// store's log captured, and looks for every token issued.
func TestNoTokenInLogs(t *testing.T) {
	var logs lockedBuffer
	e := newEnv(t, envConfig{storeOpts: func(o *mongosession.Options) {
		o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		o.OnError = func(err error) { logs.WriteString(err.Error() + "\n") }
	}})
	e.m.ErrorFunc = nil // the default logs
	var tokens []string
	for _, path := range []string{"/put?k=a&v=1", "/login?user=bob", "/incr?k=n"} {
		c := e.client(t)
		e.mustGet(t, c, path)
		tokens = append(tokens, e.token(c))
	}
	// A corrupt document under a known token is reported, by nothing of it.
	c := e.client(t)
	e.mustGet(t, c, "/put?k=a&v=1")
	tok := e.token(c)
	tokens = append(tokens, tok)
	if _, err := e.coll.UpdateOne(context.Background(), map[string]any{"_id": mongosession.HashID(tok)},
		map[string]any{"$set": map[string]any{"session": "not a document"}}); err != nil {
		t.Fatal(err)
	}
	e.mustGet(t, c, "/get?k=a")
	// A store failure, logged by the default ErrorFunc.
	_ = e.store.Close()
	if code, _, _ := e.get(t, e.withCookie(t, tokens[0]), "/get?k=a"); code != 500 {
		t.Fatalf("closed store answered %d", code)
	}
	out := logs.String()
	if !strings.Contains(out, "corrupt") || !strings.Contains(out, "closed") {
		t.Fatalf("the failures were not logged:\n%s", out)
	}
	for _, tok := range tokens {
		if tok == "" || strings.Contains(out, tok) {
			t.Fatalf("a token (%q) is in the log:\n%s", tok, out)
		}
	}
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) WriteString(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.WriteString(s)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
