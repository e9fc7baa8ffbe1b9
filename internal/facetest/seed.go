package facetest

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"testing"

	"github.com/mongosession/mongosession"
)

// SeedApp checks an example's seed app, h, whose sessions live in store:
// over a real HTTP server with a cookie jar, GET / answers
// Hello {"views":1}, then 2, then 3; without cookies it starts a fresh
// session at 1; and store then holds exactly those two sessions.
func SeedApp(t *testing.T, h http.Handler, store *mongosession.Store) {
	t.Helper()
	srv := httptest.NewServer(h)
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
	jar, _ := cookiejar.New(nil) // never fails without options
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
