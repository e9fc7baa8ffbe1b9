package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"testing"

	"github.com/alexedwards/scs/v2"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/facetest"
	"github.com/mongosession/mongosession/internal/mongotest"
	"github.com/mongosession/mongosession/internal/servetest"
)

func TestMain(m *testing.M) { os.Exit(mongotest.Main(m)) }

// TestHelloCountsViews drives the example's handler, with scs and a
// mongosession store on the test server, as a browser would: the count
// goes up with the session cookie and starts again without it.
func TestHelloCountsViews(t *testing.T) {
	store := mongotest.NewStore(t, mongosession.Options{})
	sm := scs.New()
	sm.Store = store
	facetest.SeedApp(t, sm.LoadAndSave(handler(sm)), store)
}

// TestServeWaitsForRequests: when ctx ends, serve returns only after the
// request in flight has been answered, so the store outlives it.
func TestServeWaitsForRequests(t *testing.T) {
	servetest.WaitsForRequests(t, func(ctx context.Context, ln net.Listener, handle func() string) error {
		return serve(ctx, &http.Server{Handler: servetest.HTTPHandler(handle)}, ln)
	})
}
