package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/gorillastore"
	"github.com/mongosession/mongosession/internal/facetest"
	"github.com/mongosession/mongosession/internal/mongotest"
)

func TestMain(m *testing.M) { os.Exit(mongotest.Main(m)) }

// TestViews drives the example's app against the test server with a
// cookie jar: the count goes up with the session cookie and starts again
// without it.
func TestViews(t *testing.T) {
	store := mongotest.NewStore(t, mongosession.Options{})
	facetest.SeedApp(t, newApp(gorillastore.New(store, []byte("a test key of thirty-two bytes!!"))), store)
}

// TestServeWaitsForRequests: when ctx ends, serve returns only after the
// request in flight has been answered, so the store outlives it.
func TestServeWaitsForRequests(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(entered)
		<-release
		fmt.Fprint(w, "done")
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- serve(ctx, srv, ln) }()

	answer := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String())
		if err != nil {
			answer <- err.Error()
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		answer <- string(body)
	}()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the request never reached the handler")
	}
	cancel()
	select {
	case err := <-served:
		t.Fatalf("serve returned (%v) with a request in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	if got := within(t, answer); got != "done" {
		t.Errorf("the request in flight got %q; want its answer", got)
	}
	if err := within(t, served); err != nil {
		t.Errorf("serve: %v", err)
	}
}

// within receives from c, failing the test after 10 s instead of hanging
// until go test's own timeout.
func within[T any](t *testing.T, c <-chan T) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("no answer within 10 s")
	}
	var zero T
	return zero
}
