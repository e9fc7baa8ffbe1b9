package httpsession_test

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"testing"

	"github.com/mongosession/mongosession/httpsession"
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
