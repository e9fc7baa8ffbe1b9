package main

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/mongotest"
)

func TestMain(m *testing.M) { os.Exit(mongotest.Main(m)) }

// startApp serves the example's handler on a test server, with its
// sessions in a fresh collection of the test server.
func startApp(t *testing.T) (*httptest.Server, *mongosession.Store) {
	t.Helper()
	store, err := mongosession.New(context.Background(), mongosession.Options{
		URI:        mongotest.URI(t),
		Database:   mongotest.Database,
		Collection: mongotest.Collection(t),
		Timeout:    20 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	app, _ := newApp(store, false)
	srv := httptest.NewServer(app)
	t.Cleanup(func() {
		srv.Close()
		mongotest.Drop(t, store.Collection())
		_ = store.Close()
	})
	return srv, store
}

// browser is an HTTP client with its own cookie jar that does not follow
// redirects, so the tests see where each answer points.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

func do(t *testing.T, c *http.Client, method, u string, form url.Values) (int, string, http.Header) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header
}

func TestViews(t *testing.T) {
	srv, _ := startApp(t)
	c := browser(t)
	for _, want := range []string{`Hello {"views":1}`, `Hello {"views":2}`, `Hello {"views":3}`} {
		if _, body, _ := do(t, c, "GET", srv.URL+"/", nil); body != want {
			t.Fatalf("got %q, want %q", body, want)
		}
	}
	if _, body, _ := do(t, browser(t), "GET", srv.URL+"/", nil); body != `Hello {"views":1}` {
		t.Fatalf("a new visitor got %q", body)
	}
}

var idRE = regexp.MustCompile(`name="id" value="([^"]+)"`)

func login(t *testing.T, srv *httptest.Server, c *http.Client, user, password string) {
	t.Helper()
	code, _, h := do(t, c, "POST", srv.URL+"/login", url.Values{"user": {user}, "password": {password}})
	if code != http.StatusSeeOther || h.Get("Location") != "/devices" {
		t.Fatalf("login as %s: %d to %q", user, code, h.Get("Location"))
	}
	if h.Get("Cache-Control") != "no-store" || !strings.Contains(h.Get("Set-Cookie"), "HttpOnly") {
		t.Errorf("login response headers: %v", h)
	}
}

func TestDevices(t *testing.T) {
	srv, store := startApp(t)
	laptop, phone := browser(t), browser(t)
	do(t, laptop, "GET", srv.URL+"/", nil) // an anonymous session first
	login(t, srv, laptop, "alice", "wonderland")
	login(t, srv, phone, "alice", "wonderland")

	code, _, h := do(t, browser(t), "POST", srv.URL+"/login", url.Values{"user": {"alice"}, "password": {"guess"}})
	if code != http.StatusSeeOther || h.Get("Location") != "/login?failed" {
		t.Fatalf("wrong password: %d %q", code, h.Get("Location"))
	}

	_, page, _ := do(t, laptop, "GET", srv.URL+"/devices", nil)
	ids := idRE.FindAllStringSubmatch(page, -1)
	if len(ids) != 1 || !strings.Contains(page, "(this device)") {
		t.Fatalf("the laptop's devices page lists %d other sessions:\n%s", len(ids), page)
	}
	// A cross-site POST is refused before it reaches the handler.
	req, _ := http.NewRequest("POST", srv.URL+"/devices/end", strings.NewReader("id="+ids[0][1]))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err := laptop.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST answered %d", res.StatusCode)
	}
	if code, _, _ := do(t, phone, "GET", srv.URL+"/devices", nil); code != 200 {
		t.Fatalf("the phone was logged out by a refused request: %d", code)
	}

	code, _, h = do(t, laptop, "POST", srv.URL+"/devices/end", url.Values{"id": {ids[0][1]}})
	if code != http.StatusSeeOther || h.Get("Location") != "/devices" {
		t.Fatalf("ending a session: %d %q", code, h.Get("Location"))
	}
	code, _, h = do(t, phone, "GET", srv.URL+"/devices", nil)
	if code != http.StatusSeeOther || h.Get("Location") != "/login" {
		t.Fatalf("the ended phone session still sees /devices: %d %q", code, h.Get("Location"))
	}
	if code, _, _ := do(t, laptop, "GET", srv.URL+"/devices", nil); code != 200 {
		t.Fatalf("the laptop was logged out: %d", code)
	}
	// Logout.
	code, _, h = do(t, laptop, "POST", srv.URL+"/logout", url.Values{})
	if code != http.StatusSeeOther || !strings.Contains(h.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("logout: %d %v", code, h)
	}
	if code, _, _ := do(t, laptop, "GET", srv.URL+"/devices", nil); code != http.StatusSeeOther {
		t.Fatalf("logged-out laptop sees /devices: %d", code)
	}
	// One document per session: none of alice's is left.
	live := map[string]any{"user": "alice"}
	if n, err := store.Collection().CountDocuments(context.Background(), live); err != nil || n != 0 {
		t.Fatalf("alice still has %d stored sessions (%v)", n, err)
	}
}
