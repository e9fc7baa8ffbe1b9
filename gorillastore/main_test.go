package gorillastore_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"testing"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/mongotest"
)

func TestMain(m *testing.M) { os.Exit(mongotest.Main(m)) }

// newMongoStore opens a mongosession store on a fresh collection (unless
// opts names one) through a client whose data commands (find, update,
// delete, ...) are recorded; handshakes, heartbeats and index builds are
// left out.
func newMongoStore(t testing.TB, opts mongosession.Options) (*mongosession.Store, *mongotest.Commands) {
	t.Helper()
	cmds := mongotest.DataCommands()
	return mongotest.NewRecordedStore(t, opts, cmds), cmds
}

// browser is an HTTP client with a cookie jar, as a browser would be.
type browser struct {
	t   testing.TB
	srv *httptest.Server
	c   *http.Client
}

func newBrowser(t testing.TB, h http.Handler) *browser {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, srv: srv, c: &http.Client{Jar: jar}}
}

// get requests path and returns the body and response, failing the test
// unless the status is 200.
func (b *browser) get(path string) (string, *http.Response) {
	b.t.Helper()
	resp, err := b.c.Get(b.srv.URL + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	return string(body), resp
}

// expect requests path and fails the test unless the body is want.
func (b *browser) expect(path, want string) *http.Response {
	b.t.Helper()
	got, resp := b.get(path)
	if got != want {
		b.t.Fatalf("GET %s = %q; want %q", path, got, want)
	}
	return resp
}

// cookie returns the jar's cookie named name for the server, or nil.
func (b *browser) cookie(name string) *http.Cookie {
	u, _ := url.Parse(b.srv.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// setCookie replaces the jar's cookie named name with value.
func (b *browser) setCookie(name, value string) {
	u, _ := url.Parse(b.srv.URL)
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// responseCookie returns the Set-Cookie named name of resp, or nil.
func responseCookie(resp *http.Response, name string) *http.Cookie {
	i := slices.IndexFunc(resp.Cookies(), func(c *http.Cookie) bool { return c.Name == name })
	if i < 0 {
		return nil
	}
	return resp.Cookies()[i]
}
