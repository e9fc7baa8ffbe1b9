package httpsession_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// parallel runs fn(i) for i in [0, n) at once and waits.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			fn(i)
		}()
	}
	close(start)
	wg.Wait()
}

func TestConcurrentPutsAllSurvive(t *testing.T) {
	e := newEnv(t, envConfig{poolSize: concurrency(t)})
	c := e.client(t)
	e.mustGet(t, c, "/put?k=start&v=1")
	const n = 100
	errs := make(chan error, n)
	parallel(n, func(i int) {
		res, err := c.Get(fmt.Sprintf("%s/put?k=key%03d&v=%d", e.srv.URL, i, i))
		if err != nil {
			errs <- err
			return
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			errs <- fmt.Errorf("status %d", res.StatusCode)
		}
	})
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	keys := strings.Split(e.mustGet(t, c, "/keys"), "\n")
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf("key%03d", i))
	}
	want = append(want, "start")
	if !slices.Equal(keys, want) {
		t.Fatalf("got %d keys, want %d: missing %v", len(keys), len(want), missing(want, keys))
	}
	for _, i := range []int{0, 42, 99} {
		if got := e.mustGet(t, c, fmt.Sprintf("/get?k=key%03d", i)); got != strconv.Itoa(i) {
			t.Errorf("key%03d = %q, want %d", i, got, i)
		}
	}
}

func missing(want, got []string) []string {
	var out []string
	for _, w := range want {
		if !slices.Contains(got, w) {
			out = append(out, w)
		}
	}
	return out
}

func TestConcurrentIncr(t *testing.T) {
	e := newEnv(t, envConfig{poolSize: concurrency(t)})
	testConcurrentIncr(t, e, 100)
}

func testConcurrentIncr(t *testing.T, e *env, n int) {
	c := e.client(t)
	e.mustGet(t, c, "/put?k=start&v=1")
	results := make([]int, n)
	errs := make(chan error, n)
	parallel(n, func(i int) {
		code, body, err := e.try(c, "/incr?k=views")
		if err != nil {
			errs <- err
			return
		}
		if code != 200 {
			errs <- fmt.Errorf("status %d: %s", code, body)
			return
		}
		v, err := strconv.Atoi(body)
		if err != nil {
			errs <- err
		}
		results[i] = v
	})
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// Each Incr saw a distinct total: 1..n in some order.
	slices.Sort(results)
	for i, v := range results {
		if v != i+1 {
			t.Fatalf("Incr results are not 1..%d: %v", n, results)
		}
	}
	final := e.mustGet(t, c, "/incr?k=views")
	if final != strconv.Itoa(n+1) {
		t.Fatalf("after %d concurrent Incr and one more the counter is %s, want %d", n, final, n+1)
	}
}

func TestLogoutRacingSlowRequest(t *testing.T) {
	e := newEnv(t, envConfig{poolSize: concurrency(t)})
	c := e.client(t)
	e.mustGet(t, c, "/put?k=a&v=1")
	token := e.token(c)
	if e.doc(t, token) == nil {
		t.Fatal("session not stored")
	}
	slowDone := make(chan int)
	slow := e.withCookie(t, token)
	go func() {
		code, _, err := e.try(slow, "/slow?k=late")
		if err != nil {
			code = -1
		}
		slowDone <- code
	}()
	select {
	case <-e.onSlow: // the slow request has loaded the session
	case <-time.After(30 * time.Second):
		t.Fatal("the slow request did not start")
	}
	_, _, res := e.get(t, c, "/destroy")
	if ck := res.Header.Get("Set-Cookie"); !strings.Contains(ck, "Max-Age=0") {
		t.Errorf("logout did not clear the cookie: %q", ck)
	}
	close(e.resume)
	if code := <-slowDone; code != 200 {
		t.Fatalf("slow request: %d", code)
	}
	if doc := e.doc(t, token); doc != nil {
		t.Fatalf("the slow request brought the destroyed session back: %v", doc)
	}
	if n := e.count(t); n != 0 {
		t.Fatalf("%d documents after logout, want 0", n)
	}
	if got := e.mustGet(t, e.withCookie(t, token), "/get?k=a"); got != "" {
		t.Fatalf("old cookie still reads the session: %q", got)
	}
}

// TestLogoutRacingRenewal: a logout loaded the session before another
// request of it renewed the token, keeping the user; the logout, within
// 30 seconds of the renewal, ends the renewed session (pv).
func TestLogoutRacingRenewal(t *testing.T) {
	t.Run("pv", func(t *testing.T) { logoutRacingRenewal(t, false) })
	// The TTL monitor or reaper passes between the renewal and the
	// logout: the session is still there to end.
	t.Run("reaper pass in between", func(t *testing.T) { logoutRacingRenewal(t, true) })
}

func logoutRacingRenewal(t *testing.T, reap bool) {
	e := newEnv(t, envConfig{poolSize: concurrency(t)})
	c := e.client(t)
	e.mustGet(t, c, "/login?user=alice")
	old := e.token(c)
	loaded, resume, done := pausing(t, e, func(r *http.Request) error {
		return e.m.Destroy(r.Context())
	})
	logout := e.withCookie(t, old)
	answered := make(chan struct{})
	go func() { e.try(logout, "/pause"); close(answered) }()
	select {
	case <-loaded: // the logout has loaded the session
	case <-time.After(30 * time.Second):
		t.Fatal("the logout did not start")
	}
	e.mustGet(t, c, "/renew") // renews the token meanwhile, keeping the user
	renewed := e.token(c)
	if renewed == old {
		t.Fatal("token not renewed")
	}
	if reap {
		if _, err := e.store.DeleteExpired(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	close(resume)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	<-answered
	if n := e.live(t); n != 0 {
		t.Fatalf("%d live documents after logout, want 0", n)
	}
	for _, tok := range []string{old, renewed} {
		if got := e.mustGet(t, e.withCookie(t, tok), "/user"); got != "" {
			t.Fatalf("logged in as %q after logout", got)
		}
	}
}
