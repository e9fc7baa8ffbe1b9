package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/alexedwards/scs/v2"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/mongotest"
)

func TestMain(m *testing.M) { os.Exit(mongotest.Main(m)) }

// TestHelloCountsViews drives the example's handler, with scs and a
// mongosession store on the test server, as a browser would.
func TestHelloCountsViews(t *testing.T) {
	ctx := context.Background()
	store, err := mongosession.New(ctx, mongosession.Options{URI: mongotest.URI(t), Database: mongotest.Database, Collection: mongotest.Collection(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	sm := scs.New()
	sm.Store = store
	srv := httptest.NewServer(sm.LoadAndSave(handler(sm)))
	defer srv.Close()

	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	for _, want := range []string{`Hello {"views":1}`, `Hello {"views":2}`, `Hello {"views":3}`} {
		resp, err := client.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != want {
			t.Fatalf("got %q; want %q", body, want)
		}
	}
	if n, err := store.Count(ctx); err != nil || n != 1 {
		t.Fatalf("Count = %d, %v; want the one session", n, err)
	}
}
