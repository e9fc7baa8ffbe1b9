package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/ginstore"
	"github.com/mongosession/mongosession/internal/facetest"
	"github.com/mongosession/mongosession/internal/mongotest"
	"github.com/mongosession/mongosession/internal/servetest"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	os.Exit(mongotest.Main(m))
}

// TestViews drives the example's app against the test server with a
// cookie jar: the count goes up with the session cookie and starts again
// without it.
func TestViews(t *testing.T) {
	store := mongotest.NewStore(t, mongosession.Options{})
	facetest.SeedApp(t, newApp(ginstore.New(store, []byte("a test key of thirty-two bytes!!"))), store)
}

// TestServeWaitsForRequests: when ctx ends, serve returns only after the
// request in flight has been answered, so the store outlives it.
func TestServeWaitsForRequests(t *testing.T) {
	servetest.WaitsForRequests(t, func(ctx context.Context, ln net.Listener, handle func() string) error {
		return serve(ctx, &http.Server{Handler: servetest.HTTPHandler(handle)}, ln)
	})
}
