package savewriter_test

import (
	"bufio"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mongosession/mongosession/internal/savewriter"
)

// middleware is what a session middleware does with the writer: wrap,
// serve, commit. saves counts the calls of save; save fails when fail is
// set, after adding a header (which must not survive).
type middleware struct {
	saves atomic.Int32
	fail  bool
	// after is the state after the handler returned, before Commit.
	after atomic.Int32
}

func (m *middleware) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := savewriter.New(w, func(h http.Header) error {
			m.saves.Add(1)
			h.Add("Set-Cookie", "sid=new")
			if m.fail {
				return errors.New("database down")
			}
			return nil
		}, func(w http.ResponseWriter, err error) {
			http.Error(w, "unavailable: "+err.Error(), http.StatusServiceUnavailable)
		})
		next.ServeHTTP(sw, r)
		m.after.Store(int32(sw.State()))
		sw.Commit()
	})
}

// outer is middleware outside the session's: it sets headers first.
func outer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", "max-age=63072000")
		w.Header().Set("X-Request-Id", "req-1")
		next.ServeHTTP(w, r)
	})
}

func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, string(b)
}

func TestSavesOnceBeforeTheHeader(t *testing.T) {
	m := &middleware{}
	var seenBeforeWrite, seenAfterWrite int32
	base := serve(t, m.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seenBeforeWrite = m.saves.Load()
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "a")
		seenAfterWrite = m.saves.Load()
		w.WriteHeader(http.StatusTeapot) // superfluous: the header went with "a"
		_, _ = io.WriteString(w, "b")
	})))
	res, body := get(t, base)
	if seenBeforeWrite != 0 || seenAfterWrite != 1 || m.saves.Load() != 1 {
		t.Fatalf("saves: %d before the first write, %d after it, %d in all; want 0, 1, 1", seenBeforeWrite, seenAfterWrite, m.saves.Load())
	}
	if res.StatusCode != 200 || body != "ab" || res.Header.Get("Set-Cookie") != "sid=new" {
		t.Fatalf("got %d %q Set-Cookie %q; want 200 \"ab\" with the session's cookie", res.StatusCode, body, res.Header.Get("Set-Cookie"))
	}
	if got := savewriter.State(m.after.Load()); got != savewriter.Saved {
		t.Fatalf("state after the handler wrote: %d, want Saved", got)
	}
}

func TestCommitAfterAHandlerThatWroteNothing(t *testing.T) {
	m := &middleware{}
	base := serve(t, m.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Handler", "1")
	})))
	res, _ := get(t, base)
	if m.saves.Load() != 1 || res.Header.Get("Set-Cookie") != "sid=new" || res.Header.Get("X-Handler") != "1" {
		t.Fatalf("saves %d, Set-Cookie %q, X-Handler %q; want one save, the cookie and the handler's header", m.saves.Load(), res.Header.Get("Set-Cookie"), res.Header.Get("X-Handler"))
	}
	if got := savewriter.State(m.after.Load()); got != savewriter.Pending {
		t.Fatalf("state after a handler that wrote nothing: %d, want Pending", got)
	}
}

// An informational response (103 Early Hints) goes out before the session
// is saved; the final response carries the cookie.
func TestInformationalResponsePassesThrough(t *testing.T) {
	m := &middleware{}
	var savesAfter103 int32 = -1
	base := serve(t, m.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</app.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		savesAfter103 = m.saves.Load()
		_, _ = io.WriteString(w, "page")
	})))
	var early []textproto.MIMEHeader
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		if code == http.StatusEarlyHints {
			early = append(early, h)
		}
		return nil
	}}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), "GET", base, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if savesAfter103 != 0 {
		t.Fatalf("a 103 saved the session (%d saves)", savesAfter103)
	}
	if len(early) != 1 || early[0].Get("Link") == "" || early[0].Get("Set-Cookie") != "" {
		t.Fatalf("103 responses %v: want one, with the Link and without the session's cookie", early)
	}
	if res.StatusCode != 200 || string(body) != "page" || res.Header.Get("Set-Cookie") != "sid=new" || m.saves.Load() != 1 {
		t.Fatalf("final %d %q Set-Cookie %q after %d saves", res.StatusCode, body, res.Header.Get("Set-Cookie"), m.saves.Load())
	}
}

// After a failed save the error handler answers with the headers that
// middleware outside set, without any the handler set, and the handler's
// writes are discarded with ErrSaveFailed.
func TestFailedSaveKeepsOuterHeaders(t *testing.T) {
	m := &middleware{fail: true}
	var writeErr error
	srv := httptest.NewUnstartedServer(outer(m.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "/home")
		w.Header().Set("Content-Type", "application/json")
		w.Header().Add("Set-Cookie", "handler=1")
		w.Header().Set("Cache-Control", "max-age=3600")
		w.WriteHeader(http.StatusFound)
		_, writeErr = io.WriteString(w, `{"secret":"for the user only"}`)
		w.WriteHeader(http.StatusEarlyHints)
		w.WriteHeader(http.StatusOK)
	}))))
	// The handler's status codes after the error page must not reach the
	// server, which would log them as superfluous.
	var serverLog syncBuffer
	srv.Config.ErrorLog = log.New(&serverLog, "", 0)
	srv.Start()
	t.Cleanup(srv.Close)
	res, body := get(t, srv.URL)
	srv.Close()
	if s := serverLog.String(); s != "" {
		t.Errorf("the server logged %q", s)
	}
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "database down") || strings.Contains(body, "secret") {
		t.Fatalf("got %d %q; want the error handler's 503 alone", res.StatusCode, body)
	}
	if !errors.Is(writeErr, savewriter.ErrSaveFailed) {
		t.Fatalf("the handler's Write returned %v, want ErrSaveFailed", writeErr)
	}
	h := res.Header
	if h.Get("Strict-Transport-Security") == "" || h.Get("X-Request-Id") != "req-1" {
		t.Errorf("headers set outside the middleware were lost: %v", h)
	}
	if h.Get("Location") != "" || len(h.Values("Set-Cookie")) != 0 || strings.Contains(h.Get("Content-Type"), "json") {
		t.Errorf("headers of the response that was not sent survived: %v", h)
	}
	if h.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", h.Get("Cache-Control"))
	}
	if m.saves.Load() != 1 {
		t.Errorf("%d saves, want 1", m.saves.Load())
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// unwrapOnly is a writer of another middleware that exposes neither Flush
// nor Hijack, only Unwrap (as http.ResponseController expects).
type unwrapOnly struct{ w http.ResponseWriter }

func (u unwrapOnly) Header() http.Header         { return u.w.Header() }
func (u unwrapOnly) Write(b []byte) (int, error) { return u.w.Write(b) }
func (u unwrapOnly) WriteHeader(code int)        { u.w.WriteHeader(code) }
func (u unwrapOnly) Unwrap() http.ResponseWriter { return u.w }
func wrapped(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { next.ServeHTTP(unwrapOnly{w}, r) })
}

// Flush saves the session and streams: the client reads the first chunk
// while the handler waits for it, through http.Flusher and through
// http.ResponseController, also when the writer below is a wrapper.
func TestFlushStreams(t *testing.T) {
	flushes := map[string]func(w http.ResponseWriter) error{
		"Flusher": func(w http.ResponseWriter) error {
			f, ok := w.(http.Flusher)
			if !ok {
				return errors.New("not an http.Flusher")
			}
			f.Flush()
			return nil
		},
		"ResponseController": func(w http.ResponseWriter) error { return http.NewResponseController(w).Flush() },
	}
	for name, flush := range flushes {
		for _, below := range []string{"server", "wrapper"} {
			t.Run(name+" over "+below, func(t *testing.T) {
				m := &middleware{}
				read := make(chan struct{})
				var h http.Handler = m.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					_, _ = io.WriteString(w, "first\n")
					if err := flush(w); err != nil {
						t.Error(err)
						return
					}
					select {
					case <-read:
					case <-r.Context().Done():
						return
					}
					_, _ = io.WriteString(w, "second\n")
				}))
				if below == "wrapper" {
					h = wrapped(h)
				}
				// Generous: a first chunk that was never flushed fails the
				// test instead of hanging it.
				hc := &http.Client{Timeout: 30 * time.Second}
				res, err := hc.Get(serve(t, h))
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				if res.Header.Get("Set-Cookie") != "sid=new" {
					t.Fatalf("flushed response lacks the session's cookie: %v", res.Header)
				}
				br := bufio.NewReader(res.Body)
				line, err := br.ReadString('\n')
				if err != nil || line != "first\n" {
					t.Fatalf("first chunk %q, %v", line, err)
				}
				close(read)
				rest, _ := io.ReadAll(br)
				if string(rest) != "second\n" || m.saves.Load() != 1 {
					t.Fatalf("rest %q after %d saves", rest, m.saves.Load())
				}
			})
		}
	}
}

// Hijack saves the session, then hands over the connection, also through
// a wrapper; after a failed save it refuses with ErrSaveFailed and the
// error handler's answer is what the client gets.
func TestHijack(t *testing.T) {
	for _, below := range []string{"server", "wrapper"} {
		for _, fail := range []bool{false, true} {
			m := &middleware{fail: fail}
			var savesAtHijack int32 = -1
			var hijackErr error
			var h http.Handler = m.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				conn, brw, err := http.NewResponseController(w).Hijack()
				savesAtHijack, hijackErr = m.saves.Load(), err
				if err != nil {
					return
				}
				defer conn.Close()
				_, _ = brw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nhijacked")
				_ = brw.Flush()
			}))
			if below == "wrapper" {
				h = wrapped(h)
			}
			base := serve(t, h)
			conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			res, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			conn.Close()
			if savesAtHijack != 1 {
				t.Errorf("%s, fail=%v: %d saves when Hijack returned, want 1", below, fail, savesAtHijack)
			}
			if !fail && (hijackErr != nil || string(body) != "hijacked") {
				t.Errorf("%s: Hijack %v, client read %q", below, hijackErr, body)
			}
			if fail && (!errors.Is(hijackErr, savewriter.ErrSaveFailed) || res.StatusCode != http.StatusServiceUnavailable) {
				t.Errorf("%s, failed save: Hijack %v, client got %d %q", below, hijackErr, res.StatusCode, body)
			}
		}
	}
}

// A writer that cannot be hijacked says so without saving the session, so
// the handler can still answer normally.
func TestHijackNotSupported(t *testing.T) {
	rec := httptest.NewRecorder()
	saves := 0
	sw := savewriter.New(rec, func(http.Header) error { saves++; return nil }, func(http.ResponseWriter, error) {})
	if _, _, err := sw.Hijack(); !errors.Is(err, http.ErrNotSupported) {
		t.Fatalf("Hijack on a recorder: %v, want http.ErrNotSupported", err)
	}
	if saves != 0 || sw.State() != savewriter.Pending {
		t.Fatalf("a refused Hijack saved the session (%d saves, state %d)", saves, sw.State())
	}
}
