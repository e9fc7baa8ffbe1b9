package httpsession_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/httpsession"
	"github.com/mongosession/mongosession/internal/mongotest"
)

// TestIncrOverflow: an Incr whose sum does not fit int64 fails with
// ErrOverflow and writes nothing, on every path: a counter the request
// has not read (the findAndModify's guard misses, a find tells why), one
// it has read, one it Put itself, a new session's, and a sealed one.
func TestIncrOverflow(t *testing.T) {
	paths := map[string]func(m *httpsession.Manager, ctx context.Context) (int64, error){
		"not read": func(m *httpsession.Manager, ctx context.Context) (int64, error) { return m.Incr(ctx, "n", 1) },
		"read": func(m *httpsession.Manager, ctx context.Context) (int64, error) {
			m.GetInt64(ctx, "n")
			return m.Incr(ctx, "n", 1)
		},
		"own Put": func(m *httpsession.Manager, ctx context.Context) (int64, error) {
			m.Put(ctx, "n", int64(math.MaxInt64))
			return m.Incr(ctx, "n", 1)
		},
		"negative": func(m *httpsession.Manager, ctx context.Context) (int64, error) {
			m.Put(ctx, "m", int64(math.MinInt64))
			return m.Incr(ctx, "m", -1)
		},
	}
	for _, enc := range []bool{false, true} {
		for name, incr := range paths {
			t.Run(name+map[bool]string{true: ", encrypted"}[enc], func(t *testing.T) {
				cfg := envConfig{}
				if enc {
					cfg.keys = [][]byte{encryptionKey(7)}
				}
				e := newEnv(t, cfg)
				c := e.client(t)
				var got error
				e.srv.Config.Handler = e.m.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					switch r.URL.Path {
					case "/set":
						e.m.Put(r.Context(), "n", int64(math.MaxInt64))
					case "/incr":
						_, got = incr(e.m, r.Context())
					case "/n":
						w.Write([]byte(strconv.FormatInt(e.m.GetInt64(r.Context(), "n"), 10)))
					}
				}))
				e.mustGet(t, c, "/set")
				e.mustGet(t, c, "/incr")
				if !errors.Is(got, httpsession.ErrOverflow) {
					t.Fatalf("Incr past int64: %v, want ErrOverflow", got)
				}
				if n := e.mustGet(t, c, "/n"); n != strconv.FormatInt(math.MaxInt64, 10) {
					t.Errorf("the counter became %s", n)
				}
			})
		}
	}
	// A new session's counter, started by the Incr.
	e := newEnv(t, envConfig{})
	var got error
	e.srv.Config.Handler = e.m.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := e.m.Incr(r.Context(), "n", math.MaxInt64); err != nil {
			got = err
			return
		}
		_, got = e.m.Incr(r.Context(), "n", 1)
	}))
	e.mustGet(t, e.client(t), "/")
	if !errors.Is(got, httpsession.ErrOverflow) {
		t.Fatalf("Incr past int64 in a new session: %v, want ErrOverflow", got)
	}
}

// TestMaxKeys: a Put or Incr that would give the session more than MaxKeys
// keys fails (ErrorFunc answers, Incr returns ErrTooManyKeys) and stores
// nothing of the request, whether or not the request read the session.
func TestMaxKeys(t *testing.T) {
	e := newEnv(t, envConfig{configure: func(m *httpsession.Manager) { m.MaxKeys = 3 }})
	c := e.client(t)
	var incrErr error
	e.srv.Config.Handler = e.m.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Has("read") {
			e.m.Keys(r.Context())
		}
		for _, k := range q["k"] {
			e.m.Put(r.Context(), k, "v")
		}
		if k := q.Get("incr"); k != "" {
			_, incrErr = e.m.Incr(r.Context(), k, 1)
		}
		w.Write([]byte("ok"))
	}))
	refused := func(path string) {
		t.Helper()
		code, _, _ := e.get(t, c, path)
		if code != http.StatusInternalServerError {
			t.Errorf("GET %s: %d, want 500 from ErrorFunc", path, code)
		}
		if err := <-e.errs; !errors.Is(err, httpsession.ErrTooManyKeys) {
			t.Errorf("GET %s: ErrorFunc got %v, want ErrTooManyKeys", path, err)
		}
	}
	refused("/?k=a&k=b&k=c&k=d") // a new session with four keys
	if n := e.count(t); n != 0 {
		t.Fatalf("%d documents after a refused new session", n)
	}
	e.mustGet(t, c, "/?k=a&k=b&k=c")
	refused("/?k=d")                 // without a read
	refused("/?k=e&read=1")          // after a read
	e.mustGet(t, c, "/?k=a&k=b&k=c") // existing keys: fine
	e.mustGet(t, c, "/?incr=x")
	if !errors.Is(incrErr, httpsession.ErrTooManyKeys) {
		t.Errorf("Incr of a new key beyond MaxKeys: %v", incrErr)
	}
	keys := e.mustGetKeys(t, c)
	if keys != "a,b,c" {
		t.Errorf("keys %q, want a,b,c", keys)
	}
}

// mustGetKeys returns the keys of c's session, comma-separated.
func (e *env) mustGetKeys(t *testing.T, c *http.Client) string {
	t.Helper()
	var keys []string
	h := e.srv.Config.Handler
	defer func() { e.srv.Config.Handler = h }()
	e.srv.Config.Handler = e.m.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		keys = e.m.Keys(r.Context())
	}))
	e.mustGet(t, c, "/")
	out := ""
	for i, k := range keys {
		if i > 0 {
			out += ","
		}
		out += k
	}
	return out
}

// TestTooLargeSession: a save that would make the session's document
// larger than MongoDB's 16 MiB fails with ErrTooLarge (through ErrorFunc),
// and the stored session stays as it was. A new session, and a session the
// request has read, are refused before anything is sent; a write that has
// not read the session cannot know the stored size, and relies on the
// server's refusal.
func TestTooLargeSession(t *testing.T) {
	// The handler Puts a value of size MiB under k; without k it lists the
	// keys.
	handler := func(e *env) http.Handler {
		return e.m.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			q := r.URL.Query()
			if q.Has("read") {
				e.m.Keys(r.Context())
			}
			k := q.Get("k")
			if k == "" {
				io.WriteString(w, strings.Join(e.m.Keys(r.Context()), ","))
				return
			}
			size, _ := strconv.Atoi(q.Get("size"))
			e.m.Put(r.Context(), k, strings.Repeat(k, size<<20))
			io.WriteString(w, "ok")
		}))
	}
	for _, tc := range []struct {
		name      string
		encrypted bool
		read      bool
		cmds      string // what the refused save sends
	}{
		{"read", false, true, "find"},
		{"read, encrypted", true, true, "find"},
		{"not read", false, false, "update"},
		{"not read, encrypted", true, false, "find"}, // sealing reads first
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := envConfig{}
			if tc.encrypted {
				cfg.keys = [][]byte{bytes.Repeat([]byte{7}, 32)}
			}
			e := newEnv(t, cfg)
			if tc.cmds == "update" && !mongotest.RefusesLargeDocuments(t, e.coll) {
				t.Skip("the server stores documents over 16 MiB (FerretDB 1.x): the refusal of a write that has not read the session is the server's")
			}
			e.srv.Config.Handler = handler(e)
			c := e.client(t)
			e.mustGet(t, c, "/?k=a&size=9")
			path := "/?k=b&size=9"
			if tc.read {
				path += "&read=1"
			}
			e.rec.Reset()
			if code, _, _ := e.get(t, c, path); code != http.StatusInternalServerError {
				t.Fatalf("status %d, want 500 from ErrorFunc", code)
			}
			if err := <-e.errs; !errors.Is(err, mongosession.ErrTooLarge) {
				t.Fatalf("ErrorFunc got %v, want ErrTooLarge", err)
			}
			if got := names(e.rec.Take()); got != tc.cmds {
				t.Errorf("the refused save sent %s, want %s", got, tc.cmds)
			}
			raw := e.doc(t, e.token(c))
			if raw == nil {
				t.Fatal("the stored session is gone")
			}
			if _, err := raw.LookupErr("session", "b"); err == nil {
				t.Error("the refused value was stored")
			}
			if len(raw) > mongosession.MaxDocumentSize {
				t.Errorf("a %d-byte document is stored", len(raw))
			}
			if got := e.mustGet(t, c, "/"); got != "a" {
				t.Errorf("Keys after the refused save: %q, want a", got)
			}
		})
	}
	t.Run("one value", func(t *testing.T) {
		e := newEnv(t, envConfig{})
		e.srv.Config.Handler = handler(e)
		e.rec.Reset()
		if code, _, _ := e.get(t, e.client(t), "/?k=a&size=17"); code != http.StatusInternalServerError {
			t.Fatalf("status %d, want 500 from ErrorFunc", code)
		}
		if err := <-e.errs; !errors.Is(err, mongosession.ErrTooLarge) {
			t.Fatalf("ErrorFunc got %v, want ErrTooLarge", err)
		}
		if got := names(e.rec.Take()); got != "" {
			t.Errorf("the refused insert sent %s", got)
		}
		if n := e.count(t); n != 0 {
			t.Errorf("%d documents stored", n)
		}
	})
}
