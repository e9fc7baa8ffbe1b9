// Package browsertest drives an http.Handler as a browser would: over a
// real HTTP server (httptest) with a cookie jar, so that the cookies a
// framework sets come back on the next request as they would in
// production.
package browsertest

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"testing"
)

// Browser is an HTTP client with a cookie jar of its own, of one server
// that is closed when the test ends. Its session cookie is the one named
// Name.
type Browser struct {
	// Server serves the handler; its Config.Handler may be swapped between
	// requests, as a redeploy would.
	Server *httptest.Server
	// Client sends the requests, with the jar.
	Client *http.Client
	// Name is the name of the session cookie that Cookie and SetCookie
	// read and write.
	Name string

	t testing.TB
}

// New serves h until the test ends and returns a browser of it whose
// session cookie is named name.
func New(t testing.TB, h http.Handler, name string) *Browser {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil) // never fails without options
	return &Browser{Server: srv, Client: &http.Client{Jar: jar}, Name: name, t: t}
}

// Expect requests path and fails the test unless the answer is 200 and
// its body is want; it returns the response, its body read and closed. A
// transport error fails the test.
func (b *Browser) Expect(path, want string) *http.Response {
	b.t.Helper()
	resp, err := b.Client.Get(b.Server.URL + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != want {
		b.t.Fatalf("GET %s = %d %q; want 200 %q", path, resp.StatusCode, body, want)
	}
	return resp
}

// Cookie returns the value of the jar's session cookie for the server, or
// "" when there is none (never set, or deleted by the server).
func (b *Browser) Cookie() string {
	u, _ := url.Parse(b.Server.URL)
	for _, c := range b.Client.Jar.Cookies(u) {
		if c.Name == b.Name {
			return c.Value
		}
	}
	return ""
}

// SetCookie replaces the jar's session cookie with one of value v and path
// "/", as a client that keeps or forges a cookie would.
func (b *Browser) SetCookie(v string) {
	u, _ := url.Parse(b.Server.URL)
	b.Client.Jar.SetCookies(u, []*http.Cookie{{Name: b.Name, Value: v, Path: "/"}})
}
