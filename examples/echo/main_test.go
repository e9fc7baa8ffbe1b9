package main

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

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

// TestStoreErrors: with the store closed, a request with a session cookie
// gets a 500 without the error's text, and the error is logged.
func TestStoreErrors(t *testing.T) {
	store := mongotest.NewStore(t, mongosession.Options{})
	app := newApp(gorillastore.New(store))
	rec := httptest.NewRecorder()
	app.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	cookies := rec.Result().Cookies()
	if rec.Code != http.StatusOK || len(cookies) == 0 {
		t.Fatalf("first visit: %d, %d cookies", rec.Code, len(cookies))
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	var logged strings.Builder
	log.SetOutput(&logged)
	defer log.SetOutput(os.Stderr)
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.AddCookie(cookies[0])
	rec = httptest.NewRecorder()
	app.ServeHTTP(rec, req)
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("with the store closed: %d %q; want 500", rec.Code, rec.Body)
	}
	if strings.Contains(rec.Body.String(), "mongosession") {
		t.Errorf("the body shows the internal error: %q", rec.Body)
	}
	if !strings.Contains(logged.String(), mongosession.ErrClosed.Error()) {
		t.Errorf("the log does not have the error: %q", logged.String())
	}
}

// TestSessionError: MongoDB out of reach is 503, any other failure 500;
// either way the error stays internal to echo's HTTPError.
func TestSessionError(t *testing.T) {
	log.SetOutput(io.Discard)
	defer log.SetOutput(os.Stderr)
	for _, tc := range []struct {
		err  error
		want int
	}{
		{fmt.Errorf("find: %w: connection(10.1.2.3:27017) incomplete read", mongosession.ErrUnavailable), http.StatusServiceUnavailable},
		{fmt.Errorf("find: %w", mongosession.ErrClosed), http.StatusInternalServerError},
	} {
		var he *echo.HTTPError
		if !errors.As(sessionError(tc.err), &he) {
			t.Fatalf("%v: not an *echo.HTTPError", tc.err)
		}
		if he.Code != tc.want || he.Message != http.StatusText(tc.want) || he.Internal != tc.err {
			t.Errorf("%v: %d %v (internal %v); want %d", tc.err, he.Code, he.Message, he.Internal, tc.want)
		}
	}
}
