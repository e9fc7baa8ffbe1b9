package httpsession_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/httpsession"
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
		e.m.Keys(r.Context()) // reads the session: the request is live
		close(loaded)
		<-resume
		done <- after(r)
	}))
	return loaded, resume, done
}

// TestIncrAfterRevokeFails: Incr on a session revoked during the request
// fails with ErrSessionEnded; it neither brings the session back nor starts
// a new one, and leaves the cookie for the browser's next request to clear.
func TestIncrAfterRevokeFails(t *testing.T) {
	e := newEnv(t, envConfig{})
	c := e.client(t)
	e.mustGet(t, c, "/login?user=alice")
	e.mustGet(t, c, "/incr?k=n")
	old := e.token(c)
	var incrErr error
	loaded, resume, done := pausing(t, e, func(r *http.Request) error {
		_, incrErr = e.m.Incr(r.Context(), "n", 1)
		return nil
	})
	var setCookie string
	answered := make(chan struct{})
	go func() {
		if res, err := c.Get(e.srv.URL + "/pause"); err == nil {
			setCookie = res.Header.Get("Set-Cookie")
			res.Body.Close()
		}
		close(answered)
	}()
	<-loaded
	if n, err := e.m.RevokeUser(context.Background(), "alice"); err != nil || n != 1 {
		t.Fatalf("RevokeUser: %d %v", n, err)
	}
	close(resume)
	<-done
	<-answered
	if !errors.Is(incrErr, httpsession.ErrSessionEnded) {
		t.Errorf("Incr on a revoked session: %v, want ErrSessionEnded", incrErr)
	}
	if setCookie != "" {
		t.Errorf("the response set a cookie: %q", setCookie)
	}
	if n := e.count(t); n != 0 {
		t.Fatalf("%d documents after Incr on a revoked session, want 0", n)
	}
	if u := e.mustGet(t, c, "/user"); u != "" {
		t.Errorf("the revoked session is still logged in as %q", u)
	}
	e.mustGet(t, c, "/put?k=a&v=1")
	if e.token(c) == old {
		t.Error("a write with the revoked cookie did not start a new session")
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
	// RenewToken is written with the save: it may not know yet.
	if err := <-done; err != nil && !errors.Is(err, httpsession.ErrSessionEnded) {
		t.Fatalf("RenewToken of a revoked session: %v, want nil or ErrSessionEnded", err)
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
	if _, err := e.coll.UpdateOne(context.Background(), map[string]any{"_id": tok[:selectorLen]},
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

// TestRequestRacingRenewalKeepsLogin: a request loaded the session before
// another request of it logged in (renewing the token), and answers after
// it. Whatever it does (a Put, an Incr, a RenewToken as a double-submitted
// login form does), its response must not replace the renewed cookie: the
// browser stays logged in. Its writes are dropped, whether or not the
// renewal changed the user: nothing is forwarded to the renewed token.
func TestRequestRacingRenewalKeepsLogin(t *testing.T) {
	for name, tc := range map[string]struct {
		pre   string // requested before the racing request loads
		after func(m *httpsession.Manager, r *http.Request) error
		path  string // read after both responses
		want  string
	}{
		"Put across a login": {"", func(m *httpsession.Manager, r *http.Request) error {
			m.Put(r.Context(), "lastpage", "/b")
			return nil
		}, "/get?k=lastpage", ""},
		"Incr across a login": {"", func(m *httpsession.Manager, r *http.Request) error {
			if n, err := m.Incr(r.Context(), "views", 1); !errors.Is(err, httpsession.ErrSessionEnded) {
				return fmt.Errorf("Incr: %d %v, want ErrSessionEnded", n, err)
			}
			return nil
		}, "/incr?k=views", "1"},
		"Put, same user": {"/login?user=alice", func(m *httpsession.Manager, r *http.Request) error {
			m.Put(r.Context(), "lastpage", "/b")
			return nil
		}, "/get?k=lastpage", ""},
		"Incr, same user": {"/login?user=alice", func(m *httpsession.Manager, r *http.Request) error {
			if n, err := m.Incr(r.Context(), "views", 1); !errors.Is(err, httpsession.ErrSessionEnded) {
				return fmt.Errorf("Incr: %d %v, want ErrSessionEnded", n, err)
			}
			return nil
		}, "/incr?k=views", "1"},
		"RenewToken": {"", func(m *httpsession.Manager, r *http.Request) error {
			m.SetUser(r.Context(), "alice")
			if err := m.RenewToken(r.Context()); err != nil && !errors.Is(err, httpsession.ErrSessionEnded) {
				return fmt.Errorf("RenewToken: %v, want nil (written with the save) or ErrSessionEnded", err)
			}
			return nil
		}, "/get?k=csrf", "t"},
	} {
		after := tc.after
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, envConfig{})
			c := e.client(t)
			e.mustGet(t, c, "/put?k=csrf&v=t")
			if tc.pre != "" {
				e.mustGet(t, c, tc.pre)
			}
			old := e.token(c)
			loaded, resume, done := pausing(t, e, func(r *http.Request) error { return after(e.m, r) })
			var setCookie string
			answered := make(chan struct{})
			go func() {
				if res, err := c.Get(e.srv.URL + "/pause"); err == nil {
					setCookie = res.Header.Get("Set-Cookie")
					res.Body.Close()
				}
				close(answered)
			}()
			<-loaded
			e.mustGet(t, c, "/login?user=alice")
			if e.token(c) == old {
				t.Fatal("token not renewed")
			}
			close(resume)
			if err := <-done; err != nil {
				t.Error(err)
			}
			<-answered // arrives last: the browser applies its cookie, if any
			if setCookie != "" {
				t.Errorf("the racing request set a cookie: %q", setCookie)
			}
			if got := e.mustGet(t, c, "/user"); got != "alice" {
				t.Errorf("after both responses the browser is logged in as %q, want alice", got)
			}
			if got := e.mustGet(t, c, tc.path); got != tc.want {
				t.Errorf("GET %s after both responses: %q, want %q", tc.path, got, tc.want)
			}
			if n := e.live(t); n != 1 {
				t.Errorf("%d live sessions, want 1", n)
			}
		})
	}
}

// TestCookieOfRenewedSession: a request carrying the token of a session
// that another request just renewed gets no session and keeps its cookie
// (the renewal's response carries the new one).
func TestCookieOfRenewedSession(t *testing.T) {
	e := newEnv(t, envConfig{})
	c := e.client(t)
	e.mustGet(t, c, "/put?k=a&v=1")
	old := e.token(c)
	e.mustGet(t, c, "/login?user=alice")
	_, body, res := e.get(t, e.withCookie(t, old), "/put?k=b&v=2")
	if body != "ok" || res.Header.Get("Set-Cookie") != "" {
		t.Errorf("the renewed session's old token: %q, Set-Cookie %q; want no cookie", body, res.Header.Get("Set-Cookie"))
	}
	if got := e.mustGet(t, e.withCookie(t, old), "/get?k=a"); got != "" {
		t.Errorf("the old token still reads the session: %q", got)
	}
	if n := e.live(t); n != 1 {
		t.Errorf("%d live sessions, want 1", n)
	}
}
