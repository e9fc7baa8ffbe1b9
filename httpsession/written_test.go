package httpsession_test

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"testing"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/httpsession"
	"github.com/mongosession/mongosession/internal/securitytest"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// afterWrite serves, besides e's usual routes, /late: a handler that
// writes its response first and then runs fn.
func afterWrite(t *testing.T, e *env, fn func(r *http.Request)) {
	mux := http.NewServeMux()
	mux.Handle("/", e.handler(t))
	mux.HandleFunc("/late", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "started...")
		fn(r)
	})
	e.srv.Config.Handler = e.m.LoadAndSave(mux)
}

// TestChangesAfterWriteAreSaved: Put, Remove and SetUser after the handler
// wrote its response are saved when it returns.
func TestChangesAfterWriteAreSaved(t *testing.T) {
	e := newEnv(t, envConfig{})
	afterWrite(t, e, func(r *http.Request) {
		e.m.Put(r.Context(), "b", "2")
		e.m.Remove(r.Context(), "a")
		e.m.SetUser(r.Context(), "alice")
	})
	c := e.client(t)
	e.mustGet(t, c, "/put?k=a&v=1")
	e.rec.Reset()
	e.mustGet(t, c, "/late")
	if got := names(e.rec.Take()); got != "update,update" { // adds and removes keys: see TestKeysNameTheStoredKeys
		t.Errorf("late changes: %s, want update,update", got)
	}
	if got := e.mustGet(t, c, "/keys"); got != "b" {
		t.Errorf("keys after the late changes: %q, want b", got)
	}
	if got := e.mustGet(t, c, "/user"); got != "alice" {
		t.Errorf("user after the late SetUser: %q", got)
	}
}

// TestRenewTokenAfterWrite: RenewToken after the response was written
// fails with ErrHeadersWritten and leaves the session as it was (it used
// to delete the old document while the new cookie could never be sent).
func TestRenewTokenAfterWrite(t *testing.T) {
	e := newEnv(t, envConfig{})
	var renewErr, incrErr error
	afterWrite(t, e, func(r *http.Request) {
		renewErr = e.m.RenewToken(r.Context())
		if e.m.User(r.Context()) == "" { // a new session: Incr would insert one
			_, incrErr = e.m.Incr(r.Context(), "n", 1)
		}
	})
	c := e.client(t)
	e.mustGet(t, c, "/login?user=alice")
	tok := e.token(c)
	e.rec.Reset()
	e.mustGet(t, c, "/late")
	if !errors.Is(renewErr, httpsession.ErrHeadersWritten) {
		t.Errorf("RenewToken after writing: %v, want ErrHeadersWritten", renewErr)
	}
	if got := names(e.rec.Take()); got != "find" {
		t.Errorf("RenewToken after writing sent %s, want only the load's find", got)
	}
	if e.token(c) != tok {
		t.Error("the cookie changed")
	}
	if got := e.mustGet(t, c, "/user"); got != "alice" {
		t.Errorf("after RenewToken following a write the browser is logged in as %q, want alice", got)
	}
	// A request without a session cannot start one after writing.
	anon := e.client(t)
	e.mustGet(t, anon, "/late")
	if !errors.Is(incrErr, httpsession.ErrHeadersWritten) {
		t.Errorf("Incr starting a session after writing: %v, want ErrHeadersWritten", incrErr)
	}
	if n := e.live(t); n != 1 {
		t.Errorf("%d live sessions, want 1", n)
	}
}

// TestLateSaveFailureIsReported: when the save after the response fails,
// the failure goes to the store's OnError (ErrorFunc can no longer answer).
func TestLateSaveFailureIsReported(t *testing.T) {
	var reported securitytest.Text
	e := newEnv(t, envConfig{storeOpts: func(o *mongosession.Options) { o.OnError = reported.Add }})
	afterWrite(t, e, func(r *http.Request) {
		_ = e.store.Close()
		e.m.Put(r.Context(), "b", "2")
	})
	c := e.client(t)
	e.mustGet(t, c, "/put?k=a&v=1")
	if code, body, _ := e.get(t, c, "/late"); code != http.StatusOK || body != "started..." {
		t.Fatalf("/late: %d %q", code, body)
	}
	found := false
	for _, err := range reported.All() {
		if errors.Is(err, mongosession.ErrClosed) {
			found = true
		}
	}
	if !found {
		t.Fatalf("OnError got %v, want the late save's ErrClosed", reported.All())
	}
}

// TestErrorPageDropsHandlerHeaders: when the save fails, ErrorFunc's page
// does not carry the headers the handler set for its own response.
func TestErrorPageDropsHandlerHeaders(t *testing.T) {
	e := newEnv(t, envConfig{})
	mux := http.NewServeMux()
	mux.Handle("/", e.handler(t))
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		e.m.Put(r.Context(), "k", "v")
		_ = e.store.Close() // the save fails
		w.Header().Set("Cache-Control", "public, max-age=86400")
		w.Header().Set("Content-Encoding", "gzip")
		http.Redirect(w, r, "/next", http.StatusFound)
	})
	e.srv.Config.Handler = e.m.LoadAndSave(mux)
	c := &http.Client{
		Transport:     &http.Transport{DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	code, _, res := e.get(t, c, "/redirect")
	if code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500 from ErrorFunc", code)
	}
	if err := <-e.errs; !errors.Is(err, mongosession.ErrClosed) {
		t.Errorf("ErrorFunc got %v", err)
	}
	for _, h := range []string{"Location", "Content-Encoding"} {
		if v := res.Header.Get(h); v != "" {
			t.Errorf("the error page carries the handler's %s: %q", h, v)
		}
	}
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("the error page's Cache-Control is %q, want no-store", cc)
	}
}

// TestErrorPageKeepsOuterHeaders: the error page after a failed save keeps
// the headers that middleware outside LoadAndSave set (HSTS, a request ID),
// and drops those of the handler.
func TestErrorPageKeepsOuterHeaders(t *testing.T) {
	e := newEnv(t, envConfig{})
	mux := http.NewServeMux()
	mux.HandleFunc("/x", func(w http.ResponseWriter, r *http.Request) {
		e.m.Put(r.Context(), "k", "v")
		_ = e.store.Close() // the save fails
		w.Header().Set("X-Handler", "1")
		w.Header().Set("X-Request-Id", "overwritten")
		io.WriteString(w, "x")
	})
	inner := e.m.LoadAndSave(mux)
	e.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", "max-age=63072000")
		w.Header().Set("X-Request-Id", "42")
		inner.ServeHTTP(w, r)
	})
	code, _, res := e.get(t, e.client(t), "/x")
	if code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500 from ErrorFunc", code)
	}
	if err := <-e.errs; !errors.Is(err, mongosession.ErrClosed) {
		t.Errorf("ErrorFunc got %v", err)
	}
	for h, want := range map[string]string{"Strict-Transport-Security": "max-age=63072000", "X-Request-Id": "42", "X-Handler": "", "Cache-Control": "no-store"} {
		if got := res.Header.Get(h); got != want {
			t.Errorf("the error page's %s: %q, want %q", h, got, want)
		}
	}
}

// TestIncrAfterWriteLeavesState: Incr that fails with ErrHeadersWritten (it
// would start a new session after the response was written) changes
// nothing: Get does not see the increment, and the late save has nothing
// to report.
func TestIncrAfterWriteLeavesState(t *testing.T) {
	var reported securitytest.Text
	e := newEnv(t, envConfig{storeOpts: func(o *mongosession.Options) { o.OnError = reported.Add }})
	var incrErr error
	var after int64
	var keys []string
	afterWrite(t, e, func(r *http.Request) {
		_, incrErr = e.m.Incr(r.Context(), "n", 1)
		after = e.m.GetInt64(r.Context(), "n")
		keys = e.m.Keys(r.Context())
	})
	e.mustGet(t, e.client(t), "/late")
	if !errors.Is(incrErr, httpsession.ErrHeadersWritten) {
		t.Errorf("Incr after the write: %v, want ErrHeadersWritten", incrErr)
	}
	if after != 0 || len(keys) != 0 {
		t.Errorf("the failed Incr changed the request's session: n=%d, keys %q", after, keys)
	}
	e.srv.Close() // waits for the handler's late save
	if got := reported.All(); len(got) != 0 {
		t.Errorf("OnError got %v, want nothing", got)
	}
}

// TestEarlyHintsAndFlush: through LoadAndSave, a 103 Early Hints goes out
// without saving the session or carrying its cookie, and a Flush saves it
// and streams: the final header carries the new cookie, and the browser
// reads the first chunk while the handler still runs.
func TestEarlyHintsAndFlush(t *testing.T) {
	e := newEnv(t, envConfig{})
	read := make(chan struct{})
	var storedAt103 int64 = -1
	mux := http.NewServeMux()
	mux.Handle("/", e.handler(t))
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		e.m.Put(r.Context(), "k", "v")
		w.Header().Set("Link", "</app.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		if n, err := e.coll.CountDocuments(r.Context(), bson.D{}); err == nil {
			storedAt103 = n
		}
		io.WriteString(w, "first\n")
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Error(err)
			return
		}
		select {
		case <-read:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "second\n")
	})
	e.srv.Config.Handler = e.m.LoadAndSave(mux)
	var early []textproto.MIMEHeader
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		early = append(early, h)
		return nil
	}}
	c := e.client(t)
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), "GET", e.srv.URL+"/stream", nil)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	br := bufio.NewReader(res.Body)
	if line, err := br.ReadString('\n'); err != nil || line != "first\n" {
		t.Fatalf("first chunk %q, %v", line, err)
	}
	close(read)
	if rest, _ := io.ReadAll(br); string(rest) != "second\n" {
		t.Fatalf("rest %q", rest)
	}
	if storedAt103 != 0 {
		t.Errorf("%d sessions stored when the 103 was sent, want 0", storedAt103)
	}
	if len(early) != 1 || early[0].Get("Link") == "" || early[0].Get("Set-Cookie") != "" {
		t.Errorf("1xx responses %v: want one 103 with the Link and without the session's cookie", early)
	}
	if e.token(c) == "" {
		t.Fatal("the flushed response carries no session cookie")
	}
	if got := e.mustGet(t, c, "/get?k=k"); got != "v" {
		t.Errorf("the value put before the flush: %q, want v", got)
	}
}
