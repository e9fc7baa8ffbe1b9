// Package servetest checks the examples' graceful shutdown (the one
// exampleserver.Serve, and the fiber example's adapter to it): when the
// context ends, serve returns only after the request in flight has been
// answered, so the store an example closes after serve outlives it.
package servetest

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// Serve starts serving on ln until ctx ends, answering every request with
// what handle returns, and returns when the server has shut down. handle
// blocks until the test lets the request finish.
type Serve func(ctx context.Context, ln net.Listener, handle func() string) error

// HTTPHandler is the net/http handler of a Serve: it answers with handle's
// string.
func HTTPHandler(handle func() string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, handle()) })
}

// WaitsForRequests sends one request, ends the context while the handler
// holds it, and fails the test if serve returns before the request is
// answered, if the request does not get its answer, or if serve fails.
func WaitsForRequests(t *testing.T, serve Serve) {
	t.Helper()
	entered, release := make(chan struct{}), make(chan struct{})
	handle := func() string {
		close(entered)
		<-release
		return "done"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- serve(ctx, ln, handle) }()

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
