package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/gofiber/fiber/v3"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/fiberstore"
	"github.com/mongosession/mongosession/internal/mongotest"
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
		_ = storage.Reset()
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
