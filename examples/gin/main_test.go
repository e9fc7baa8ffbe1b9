package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/ginstore"
	"github.com/mongosession/mongosession/internal/mongotest"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	os.Exit(mongotest.Main(m))
}

// TestViews drives the example's app against the test server with a
// cookie jar: the count goes up with the session cookie and starts again
// without it.
func TestViews(t *testing.T) {
	store, err := mongosession.New(context.Background(), mongosession.Options{
		URI:        mongotest.URI(t),
		Database:   mongotest.Database,
		Collection: mongotest.Collection(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = store.Clear(context.Background())
		_ = store.Close()
	})
	srv := httptest.NewServer(newApp(ginstore.New(store, []byte("a test key of thirty-two bytes!!"))))
	t.Cleanup(srv.Close)

	get := func(c *http.Client) string {
		t.Helper()
		resp, err := c.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET / = %d %q (%v)", resp.StatusCode, body, err)
		}
		return string(body)
	}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	for _, want := range []string{`Hello {"views":1}`, `Hello {"views":2}`, `Hello {"views":3}`} {
		if got := get(browser); got != want {
			t.Fatalf("with the cookie jar: %q; want %q", got, want)
		}
	}
	if got := get(&http.Client{}); got != `Hello {"views":1}` {
		t.Fatalf("without cookies: %q; want a fresh session", got)
	}
	if n, err := store.Count(context.Background()); err != nil || n != 2 {
		t.Fatalf("Count = %d, %v; want 2 sessions", n, err)
	}
}
