package main

import (
	"bytes"
	"context"
	"expvar"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func init() {
	expvar.Publish("goroutines", expvar.Func(func() any { return runtime.NumGoroutine() }))
}

// fakeHello answers Hello {"views":N} with a counter per cookie, and
// /debug/vars. Every nth request (when n > 0) forgets to count.
func fakeHello(t *testing.T, lose int) *httptest.Server {
	var mu sync.Mutex
	views, seq, reqs := map[string]int{}, 0, 0
	mux := http.NewServeMux()
	mux.Handle("/debug/vars", expvar.Handler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		reqs++
		c, err := r.Cookie("s")
		id := ""
		if err == nil {
			id = c.Value
		} else {
			seq++
			id = fmt.Sprint(seq)
			http.SetCookie(w, &http.Cookie{Name: "s", Value: id})
		}
		if lose == 0 || reqs%lose != 0 {
			views[id]++
		}
		fmt.Fprintf(w, `Hello {"views":%d}`, views[id])
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func soakRun(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestSoakReports(t *testing.T) {
	srv := fakeHello(t, 0)
	code, out, errs := soakRun("-url", srv.URL+"/", "-vars", srv.URL+"/debug/vars", "-clients", "4", "-duration", "1s", "-interval", "500ms")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	for _, want := range []string{"0s-500ms", "500ms-1s", "total", "p99", "goroutines", "under load, first -> last window"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	var reqs, errsN, lost int
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "total ") {
			fmt.Sscan(strings.TrimPrefix(line, "total"), &reqs, &errsN, &lost)
		}
	}
	if reqs == 0 || errsN != 0 || lost != 0 {
		t.Errorf("total: %d requests, %d errors, %d lost; want requests and no failures\n%s", reqs, errsN, lost, out)
	}
}

func TestSoakCountsLostViewsAndErrors(t *testing.T) {
	srv := fakeHello(t, 7)
	code, out, _ := soakRun("-url", srv.URL+"/", "-vars", srv.URL+"/debug/vars", "-clients", "2", "-duration", "500ms", "-interval", "500ms")
	if code != 1 {
		t.Errorf("a server losing views: exit %d; want 1\n%s", code, out)
	}
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer failing.Close()
	code, out, _ = soakRun("-url", failing.URL+"/", "-vars", "off", "-clients", "2", "-duration", "300ms", "-interval", "300ms")
	if code != 1 || !strings.Contains(out, "status 503") {
		t.Errorf("a failing server: exit %d; want 1 and the first error\n%s", code, out)
	}
}

func TestSoakRefuses(t *testing.T) {
	for _, args := range [][]string{
		{"-url", "http://example.com/"},
		{"-url", "http://10.0.0.1:3000/"},
		{"-url", "http://localhost:3000/", "-vars", "http://example.com/debug/vars"},
		{"-clients", "0"},
		{"-clients", "100000"},
		{"-duration", "2h"},
		{"-interval", "0s"},
		{"-url", "ftp://localhost/"},
	} {
		if code, _, errs := soakRun(args...); code != 2 {
			t.Errorf("%v: exit %d (%s); want 2", args, code, errs)
		}
	}
}

// TestSoakRedirectStaysLocal: a loopback page that redirects off loopback
// must not take the load with it; the redirect is refused before any
// connection (the target's name does not even resolve) and counted as an
// error naming the reason.
func TestSoakRedirectStaysLocal(t *testing.T) {
	redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://victim.example.invalid/", http.StatusFound)
	}))
	defer redirecting.Close()
	code, out, _ := soakRun("-url", redirecting.URL+"/", "-vars", "off", "-clients", "1", "-duration", "300ms", "-interval", "300ms")
	if code != 1 || !strings.Contains(out, "not a loopback address") {
		t.Errorf("a redirect off loopback: exit %d; want 1 and the refusal\n%s", code, out)
	}
}
