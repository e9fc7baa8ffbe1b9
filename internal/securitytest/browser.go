package securitytest

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
)

// Issued is an http.RoundTripper over http.DefaultTransport that records
// the value of every non-empty cookie named Name that a response sets. It
// is safe for concurrent use; set Name before the first request.
type Issued struct {
	Name string

	mu     sync.Mutex
	values []string
}

// RoundTrip sends r through http.DefaultTransport and records the cookies
// named Name of a response; a transport error is returned as it is.
func (s *Issued) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		s.mu.Lock()
		for _, c := range resp.Cookies() {
			if c.Name == s.Name && c.Value != "" {
				s.values = append(s.values, c.Value)
			}
		}
		s.mu.Unlock()
	}
	return resp, err
}

// All returns a copy of the values recorded so far, in order.
func (s *Issued) All() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.values...)
}

// NewServer serves h until the test ends; its Config.Handler may be
// swapped between requests, as a redeploy would.
func NewServer(t testing.TB, h http.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// Browser is an HTTP client of one server with a cookie jar, as a browser
// would be, whose transport (Issued) records the value of every session
// cookie the server sets. Its methods fail the test on a transport error.
type Browser struct {
	t      testing.TB
	srv    *httptest.Server
	c      *http.Client
	name   string
	Issued *Issued
}

// NewBrowser returns a Browser of srv whose session cookie is named name.
// It records the cookies it is given in issued, which browsers may share;
// nil gives it an Issued of its own.
func NewBrowser(t testing.TB, srv *httptest.Server, name string, issued *Issued) *Browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	if issued == nil {
		issued = &Issued{Name: name}
	}
	return &Browser{t: t, srv: srv, name: name, c: &http.Client{Jar: jar, Transport: issued}, Issued: issued}
}

// Get requests path and returns the status and body, whatever the status.
func (b *Browser) Get(path string) (int, string) {
	b.t.Helper()
	resp, err := b.c.Get(b.srv.URL + path)
	if err != nil {
		b.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// Expect requests path and fails the test unless the answer is 200 and
// want.
func (b *Browser) Expect(path, want string) {
	b.t.Helper()
	if code, body := b.Get(path); code != http.StatusOK || body != want {
		b.t.Fatalf("GET %s = %d %q; want 200 %q", path, code, body, want)
	}
}

// Cookie returns the value of the jar's session cookie for the server,
// or "" when there is none.
func (b *Browser) Cookie() string {
	u, _ := url.Parse(b.srv.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == b.name {
			return c.Value
		}
	}
	return ""
}

// Probe sends one GET of path with a Cookie header written as given
// (name=cookie; no client library would send some of these values)
// straight to h, and returns the status, the body and the value of the
// last cookie named name the answer sets ("" if none).
func Probe(h http.Handler, name, path, cookie string) (code int, body, set string) {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	r.Header["Cookie"] = []string{name + "=" + cookie}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	for _, c := range w.Result().Cookies() {
		if c.Name == name {
			set = c.Value
		}
	}
	return w.Code, w.Body.String(), set
}
