package mongosession_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/mongosession/mongosession"
)

// The store satisfies every scs v2 store interface, structurally.
var (
	_ scs.Store            = (*mongosession.Store)(nil)
	_ scs.CtxStore         = (*mongosession.Store)(nil)
	_ scs.IterableStore    = (*mongosession.Store)(nil)
	_ scs.IterableCtxStore = (*mongosession.Store)(nil)
)

// scsApp serves /put (views+1), /get, /renew, /destroy through scs with a
// mongosession store.
func scsApp(t *testing.T, s *mongosession.Store, lifetime time.Duration) (*scs.SessionManager, *httptest.Server) {
	sm := scs.New()
	sm.Store = s
	sm.Lifetime = lifetime
	mux := http.NewServeMux()
	mux.HandleFunc("/put", func(w http.ResponseWriter, r *http.Request) {
		n := sm.GetInt(r.Context(), "views") + 1
		sm.Put(r.Context(), "views", n)
		fmt.Fprint(w, n)
	})
	mux.HandleFunc("/get", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, sm.GetInt(r.Context(), "views"))
	})
	mux.HandleFunc("/renew", func(w http.ResponseWriter, r *http.Request) {
		if err := sm.RenewToken(r.Context()); err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	mux.HandleFunc("/destroy", func(w http.ResponseWriter, r *http.Request) {
		if err := sm.Destroy(r.Context()); err != nil {
			http.Error(w, err.Error(), 500)
		}
	})
	srv := httptest.NewServer(sm.LoadAndSave(mux))
	t.Cleanup(srv.Close)
	return sm, srv
}

type browser struct {
	t      *testing.T
	client *http.Client
	base   string
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, client: &http.Client{Jar: jar}, base: base}
}

func (b *browser) get(path string) string {
	b.t.Helper()
	resp, err := b.client.Get(b.base + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		b.t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	return string(body)
}

func (b *browser) token() string {
	u, _ := url.Parse(b.base)
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == "session" {
			return c.Value
		}
	}
	return ""
}

func TestSCSCounterSurvivesRequests(t *testing.T) {
	s := newStore(t, mongosession.Options{})
	_, srv := scsApp(t, s, time.Hour)
	b := newBrowser(t, srv.URL)
	for want := 1; want <= 3; want++ {
		if got := b.get("/put"); got != strconv.Itoa(want) {
			t.Fatalf("views = %s; want %d", got, want)
		}
	}
	if n, err := s.Count(ctx); err != nil || n != 1 {
		t.Fatalf("Count = %d, %v; want one session", n, err)
	}
	// A second browser has its own session.
	if got := newBrowser(t, srv.URL).get("/put"); got != "1" {
		t.Fatalf("second browser views = %s; want 1", got)
	}
}

func TestSCSRenewToken(t *testing.T) {
	s := newStore(t, mongosession.Options{})
	_, srv := scsApp(t, s, time.Hour)
	b := newBrowser(t, srv.URL)
	b.get("/put")
	old := b.token()
	b.get("/renew")
	if b.token() == old || b.token() == "" {
		t.Fatal("RenewToken did not issue a new token")
	}
	if got := b.get("/get"); got != "1" {
		t.Fatalf("views after renew = %s; want 1 (data carried over)", got)
	}
	if _, found, err := s.FindCtx(ctx, old); err != nil || found {
		t.Fatalf("old token after renew: found=%v err=%v; want gone", found, err)
	}
}

func TestSCSDestroy(t *testing.T) {
	s := newStore(t, mongosession.Options{})
	_, srv := scsApp(t, s, time.Hour)
	b := newBrowser(t, srv.URL)
	b.get("/put")
	tok := b.token()
	b.get("/destroy")
	if _, found, _ := s.FindCtx(ctx, tok); found {
		t.Fatal("destroyed session still stored")
	}
	if got := b.get("/get"); got != "0" {
		t.Fatalf("views after destroy = %s; want 0", got)
	}
}

func TestSCSExpiry(t *testing.T) {
	s := newStore(t, mongosession.Options{AutoRemove: mongosession.AutoRemoveOff})
	_, srv := scsApp(t, s, 1500*time.Millisecond)
	b := newBrowser(t, srv.URL)
	b.get("/put")
	b.get("/put")
	tok := b.token()
	time.Sleep(1700 * time.Millisecond)
	// The browser would drop the expired cookie; send it anyway, as an
	// attacker replaying it would.
	u, _ := url.Parse(srv.URL)
	b.client.Jar.SetCookies(u, []*http.Cookie{{Name: "session", Value: tok, Path: "/"}})
	if got := b.get("/get"); got != "0" {
		t.Fatalf("views after expiry = %s; want 0 (expired is not found, whatever the TTL monitor did)", got)
	}
}

func TestSCSIterate(t *testing.T) {
	s := newStore(t, mongosession.Options{})
	sm, srv := scsApp(t, s, time.Hour)
	for i := 0; i < 3; i++ {
		b := newBrowser(t, srv.URL)
		for j := 0; j <= i; j++ {
			b.get("/put")
		}
	}
	var views []int
	err := sm.Iterate(ctx, func(c context.Context) error {
		views = append(views, sm.GetInt(c, "views"))
		return nil
	})
	must(t, err)
	sort.Ints(views)
	if fmt.Sprint(views) != "[1 2 3]" {
		t.Fatalf("Iterate saw views %v; want [1 2 3]", views)
	}
}

func TestSCSHostileCookie(t *testing.T) {
	s := newStore(t, mongosession.Options{})
	_, srv := scsApp(t, s, time.Hour)
	for _, v := range []string{`{"$gt":""}`, "$where", strings.Repeat("A", 4000), "%00", "..%2F"} {
		req, _ := http.NewRequest("GET", srv.URL+"/get", nil)
		req.AddCookie(&http.Cookie{Name: "session", Value: url.QueryEscape(v)})
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != "0" {
			t.Errorf("hostile cookie %.20q: %d %s; want a fresh session", v, resp.StatusCode, body)
		}
	}
}
