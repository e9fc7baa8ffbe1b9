package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v3"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/fiberstore"
	"github.com/mongosession/mongosession/internal/exampleserver"
	"github.com/mongosession/mongosession/internal/mongotest"
	"github.com/mongosession/mongosession/internal/servetest"
)

func TestMain(m *testing.M) { os.Exit(mongotest.Main(m)) }

// TestViews drives the example's app against the test server: the count
// goes up with the session cookie and starts again without it.
func TestViews(t *testing.T) {
	store, err := mongosession.New(context.Background(), mongosession.Options{
		URI:        mongotest.URI(t),
		Database:   mongotest.Database,
		Collection: mongotest.Collection(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	storage := fiberstore.New(store)
	t.Cleanup(func() {
		mongotest.Drop(t, store.Collection())
		_ = storage.Close()
	})
	app := newApp(storage)

	get := func(cookies []*http.Cookie) (string, []*http.Cookie) {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		for _, c := range cookies {
			req.AddCookie(c)
		}
		resp, err := app.Test(req, fiber.TestConfig{Timeout: 20 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET / = %d %q", resp.StatusCode, body)
		}
		return string(body), resp.Cookies()
	}

	body, cookies := get(nil)
	if body != `Hello {"views":1}` {
		t.Fatalf("first visit: %q", body)
	}
	if len(cookies) == 0 {
		t.Fatal("no session cookie")
	}
	for _, want := range []string{`Hello {"views":2}`, `Hello {"views":3}`} {
		if body, _ = get(cookies); body != want {
			t.Fatalf("with the cookie: %q; want %q", body, want)
		}
	}
	if body, _ = get(nil); body != `Hello {"views":1}` {
		t.Fatalf("without the cookie: %q; want a fresh session", body)
	}
	if n, err := store.Count(context.Background()); err != nil || n != 2 {
		t.Fatalf("Count = %d, %v; want 2 sessions", n, err)
	}
}

// failingStorage is a fiber.Storage whose reads or writes fail as
// mongosession's do when the server is out of reach: the error names the
// server's address.
type failingStorage struct {
	fiber.Storage // the methods the session middleware does not call
	getErr        error
	setErr        error
}

func (f failingStorage) GetWithContext(context.Context, string) ([]byte, error) {
	return nil, f.getErr
}
func (f failingStorage) Get(string) ([]byte, error) { return nil, f.getErr }
func (f failingStorage) SetWithContext(context.Context, string, []byte, time.Duration) error {
	return f.setErr
}
func (f failingStorage) Set(string, []byte, time.Duration) error { return f.setErr }

// internalDetail is what the failing storage's errors carry and no
// response may: the database's address.
const internalDetail = "10.1.2.3:27017"

// TestStoreErrorsStayInside: when the store fails, on the read (the
// session middleware panics, recover turns it into an error) or on the
// save after the handler, the client gets 503 or a bare 500, never the
// error's text.
func TestStoreErrorsStayInside(t *testing.T) {
	unavailable := fmt.Errorf("%w: connection(%s[-3]) incomplete read", mongosession.ErrUnavailable, internalDetail)
	other := fmt.Errorf("%w (server %s)", mongosession.ErrClosed, internalDetail)
	for _, tc := range []struct {
		name     string
		err      error
		read     bool // fail the read (of the session the cookie names), else the save
		wantCode int
		wantBody string
	}{
		{"read, unavailable", unavailable, true, http.StatusServiceUnavailable, "Service Unavailable"},
		{"save, unavailable", unavailable, false, http.StatusServiceUnavailable, "Service Unavailable"},
		{"read, other error", other, true, http.StatusInternalServerError, "Internal Server Error"},
		{"save, other error", other, false, http.StatusInternalServerError, "Internal Server Error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storage := failingStorage{setErr: tc.err}
			if tc.read {
				storage = failingStorage{getErr: tc.err}
			}
			app := newApp(storage)
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.AddCookie(&http.Cookie{Name: "session_id", Value: "aGVsbG8td29ybGQtc2Vzc2lvbi1pZA"})
			resp, err := app.Test(req, fiber.TestConfig{Timeout: 20 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.wantCode || string(body) != tc.wantBody {
				t.Errorf("GET / = %d %q; want %d %q", resp.StatusCode, body, tc.wantCode, tc.wantBody)
			}
			if strings.Contains(string(body), internalDetail) || strings.Contains(string(body), "mongosession") {
				t.Errorf("the body shows the internal error: %q", body)
			}
		})
	}
}

// TestErrorHandler: a *fiber.Error keeps its code, even wrapped, but not
// its message; an error wrapping ErrUnavailable is 503; any other is 500;
// each answered with the status text alone.
func TestErrorHandler(t *testing.T) {
	for _, tc := range []struct {
		err      error
		wantCode int
		wantBody string
	}{
		{fiber.NewError(http.StatusTeapot, "short and stout, and a header: Cookie: session_id=x"), http.StatusTeapot, "I'm a teapot"},
		{fmt.Errorf("route: %w", fiber.ErrForbidden), http.StatusForbidden, "Forbidden"},
		{fmt.Errorf("commit: %w (%s)", mongosession.ErrUnavailable, internalDetail), http.StatusServiceUnavailable, "Service Unavailable"},
		{errors.New("dial tcp " + internalDetail + ": connection refused"), http.StatusInternalServerError, "Internal Server Error"},
	} {
		app := fiber.New(fiber.Config{ErrorHandler: errorHandler})
		app.Get("/", func(fiber.Ctx) error { return tc.err })
		resp, err := app.Test(httptest.NewRequest(http.MethodGet, "/", nil))
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != tc.wantCode || string(body) != tc.wantBody {
			t.Errorf("error %q: %d %q; want %d %q", tc.err, resp.StatusCode, body, tc.wantCode, tc.wantBody)
		}
	}
}

// TestServeWaitsForRequests: when ctx ends, exampleserver.Serve of a
// fiberServer returns only after the request in flight has been answered,
// so the storage outlives it.
func TestServeWaitsForRequests(t *testing.T) {
	servetest.WaitsForRequests(t, func(ctx context.Context, ln net.Listener, handle func() string) error {
		app := fiber.New()
		app.Get("/", func(c fiber.Ctx) error { return c.SendString(handle()) })
		return exampleserver.Serve(ctx, fiberServer{app}, ln)
	})
}

// TestMalformedRequestEchoesNoHeader: fasthttp's message for a request it
// cannot parse quotes the raw request, HttpOnly session cookie included
// ("... Buffer size=86, contents: \"GET / HTTP/1.1\\r\\nHost: x\\r\\nCookie:
// session_id=..."); the app answers such a request with the status text
// alone.
func TestMalformedRequestEchoesNoHeader(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	app := newApp(failingStorage{})
	go func() { _ = app.Listener(ln, fiber.ListenConfig{DisableStartupMessage: true}) }()
	t.Cleanup(func() { _ = app.Shutdown() })

	const secret = "c2VjcmV0LXNlc3Npb24taWQtb2YtdGhlLXZpY3RpbQ"
	headers := "Host: x\r\nCookie: session_id=" + secret + "\r\nAuthorization: Bearer " + secret + "\r\n"
	for _, raw := range []string{
		"GET / HTTP/1.1\r\n" + headers + "NoColonHere\r\nConnection: close\r\n\r\n",
		"GET / HTTP/1.1\r\n" + headers + "Content-Length: nope\r\nConnection: close\r\n\r\n",
		"GET / HTTP/1.1\r\n" + headers + "Transfer-Encoding: bogus\r\nConnection: close\r\n\r\n",
		"GET\r\n" + headers + "Connection: close\r\n\r\n",
	} {
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
		if _, err := io.WriteString(conn, raw); err != nil {
			t.Fatal(err)
		}
		answer, _ := io.ReadAll(conn) // Connection: close
		conn.Close()
		head, body, _ := strings.Cut(string(answer), "\r\n\r\n")
		if !strings.HasPrefix(head, "HTTP/1.1 400 ") || body != "Bad Request" {
			t.Errorf("request %q answered %q; want 400 with the body \"Bad Request\"", raw, answer)
		}
		if strings.Contains(string(answer), secret) {
			t.Errorf("the answer to a malformed request echoes a header:\n%s", answer)
		}
	}
}
