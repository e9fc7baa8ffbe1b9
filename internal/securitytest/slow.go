package securitytest

import (
	"fmt"
	"io"
	"net/http"
	"testing"
)

// HoldOpen starts the thief's slow request (do, in a goroutine) and returns
// once its handler has loaded the session (entered is closed). It fails
// the test if the request is answered before that. finish waits for the
// answer and returns it as "<status> <body>" (or the transport error).
func HoldOpen(t testing.TB, entered <-chan struct{}, do func() (*http.Response, error)) (finish func() string) {
	t.Helper()
	slow := make(chan string, 1)
	go func() {
		resp, err := do()
		if err != nil {
			slow <- err.Error()
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		slow <- fmt.Sprintf("%d %s", resp.StatusCode, body)
	}()
	select {
	case <-entered:
	case got := <-slow:
		t.Fatalf("the slow request answered %q without loading the session", got)
	}
	return func() string { return <-slow }
}
