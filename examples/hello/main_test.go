package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/facetest"
	"github.com/mongosession/mongosession/internal/mongotest"
)

func TestMain(m *testing.M) { os.Exit(mongotest.Main(m)) }

// TestHelloCountsViews drives the example's app, scs on a mongosession
// store on the test server, as a browser would: the count goes up with the
// session cookie and starts again without it.
func TestHelloCountsViews(t *testing.T) {
	store := mongotest.NewStore(t, mongosession.Options{})
	facetest.SeedApp(t, newApp(store), store)
}

// TestHelloAnswers503WhileMongoDBIsDown: with the database out of reach,
// the app answers 503 (its scs ErrorFunc), with neither the error's text
// nor the database's address in the body, and serves the same session
// again once the database is back.
func TestHelloAnswers503WhileMongoDBIsDown(t *testing.T) {
	dialer := &mongotest.SwitchDialer{}
	store := mongotest.NewStore(t, mongosession.Options{
		ClientOptions: options.Client().SetDialer(dialer),
		Timeout:       time.Second,
	})
	srv := httptest.NewServer(newApp(store))
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar}
	get := func() (int, string) {
		t.Helper()
		resp, err := client.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := get(); code != http.StatusOK || body != `Hello {"views":1}` {
		t.Fatalf("first visit: %d %q", code, body)
	}

	dialer.SetDown()
	for i := range 2 { // the load fails; so, with a new visitor, would the save
		code, body := get()
		if code != http.StatusServiceUnavailable {
			t.Fatalf("request %d with MongoDB down: %d %q; want 503", i, code, body)
		}
		for _, leak := range []string{"mongosession", "server is down", mongotest.URI(t)} {
			if strings.Contains(body, leak) {
				t.Fatalf("the 503 shows %q: %q", leak, body)
			}
		}
		jar, _ = cookiejar.New(nil) // the second request is a new visitor's
		client.Jar = jar
	}
	dialer.SetUp()
	if code, body := get(); code != http.StatusOK || body != `Hello {"views":1}` {
		t.Fatalf("after MongoDB is back: %d %q; want a fresh count of 1", code, body)
	}
}

// TestDebugOnLoopbackOnly: -debug serves expvar on a loopback listener of
// its own; the app's own handler (what the public listener serves) has no
// /debug/vars; an address that is not loopback is refused.
func TestDebugOnLoopbackOnly(t *testing.T) {
	store := mongotest.NewStore(t, mongosession.Options{})
	resp := httptest.NewRecorder()
	newApp(store).ServeHTTP(resp, httptest.NewRequest(http.MethodGet, "/debug/vars", nil))
	if strings.Contains(resp.Body.String(), "memstats") || strings.Contains(resp.Body.String(), "cmdline") {
		t.Fatalf("the app's handler serves expvar: %.200q", resp.Body.String())
	}

	for _, public := range []string{":0", "0.0.0.0:0", "[::]:0"} {
		if stop, err := serveDebug(public); err == nil {
			stop()
			t.Errorf("serveDebug(%q) served expvar; want an error (not loopback)", public)
		}
	}

	// A loopback address: find a free one, then serve there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	stop, err := serveDebug(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	got, err := http.Get("http://" + addr + "/debug/vars")
	if err != nil {
		t.Fatal(err)
	}
	defer got.Body.Close()
	var vars map[string]any
	if err := json.NewDecoder(got.Body).Decode(&vars); err != nil {
		t.Fatal(err)
	}
	if _, ok := vars["goroutines"]; !ok || vars["memstats"] == nil {
		t.Fatalf("/debug/vars on %s lacks goroutines or memstats: %v", addr, vars)
	}
}
