package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/mongotest"
	"github.com/mongosession/mongosession/nodesession"
)

func TestMain(m *testing.M) { os.Exit(mongotest.Main(m)) }

// TestStateChangesArePOSTsFromKnownOrigins: /api/visit and /api/logout
// answer POST only, and a POST from a page of another site is refused
// before it reaches the session; the Express app's origin is let through.
func TestStateChangesArePOSTsFromKnownOrigins(t *testing.T) {
	sessions, err := nodesession.New(nodesession.Options{
		Store:  mongotest.NewStore(t, mongosession.Options{PlainIDs: true}),
		Cookie: nodesession.ExpressCookie{Secrets: []string{"test secret"}, MaxAge: time.Hour, SameSite: "lax"},
		Layout: nodesession.ConnectMongoDBSession{},
	})
	if err != nil {
		t.Fatal(err)
	}
	h, err := newHandler(sessions, "http://localhost:3000")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, path, origin, fetchSite string
		want                            int
	}{
		{http.MethodGet, "/api/visit", "", "", http.StatusMethodNotAllowed},
		{http.MethodGet, "/api/logout", "", "", http.StatusMethodNotAllowed},
		{http.MethodPost, "/api/visit", "https://evil.example", "cross-site", http.StatusForbidden},
		{http.MethodPost, "/api/logout", "https://evil.example", "cross-site", http.StatusForbidden},
		{http.MethodPost, "/api/logout", "https://evil.example", "", http.StatusForbidden}, // an older browser: Origin only
		{http.MethodPost, "/api/visit", "http://localhost:3000", "same-site", http.StatusUnauthorized},
		{http.MethodPost, "/api/logout", "http://localhost:3000", "same-site", http.StatusOK},
		{http.MethodPost, "/api/logout", "", "", http.StatusOK}, // not a browser: curl
		{http.MethodGet, "/api/me", "", "", http.StatusUnauthorized},
	} {
		req := httptest.NewRequest(tc.method, "http://localhost:8080"+tc.path, nil)
		if tc.origin != "" {
			req.Header.Set("Origin", tc.origin)
		}
		if tc.fetchSite != "" {
			req.Header.Set("Sec-Fetch-Site", tc.fetchSite)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("%s %s from %q (%s) = %d %q; want %d", tc.method, tc.path, tc.origin, tc.fetchSite, rec.Code, rec.Body, tc.want)
		}
	}
}
