package main

// The gorilla face through echo: echo-contrib/session's middleware driving
// gorillastore in a real echo v4 app, over HTTP with a cookie jar. These
// tests live in the echo example's module so that gorillastore's go.mod
// stays free of echo (see gorillastore/README.md).

import (
	"bytes"
	"context"
	"encoding/gob"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo-contrib/session"
	"github.com/labstack/echo/v4"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/gorillastore"
	"github.com/mongosession/mongosession/internal/mongotest"
	"github.com/mongosession/mongosession/internal/storetest"
)

var (
	hashKey  = []byte("0123456789abcdef0123456789abcdef")
	blockKey = []byte("fedcba9876543210fedcba9876543210")
)

type account struct {
	Name  string
	Roles []string
}

func init() { gob.Register(account{}) }

// newEchoApp: /count, /peek (no save), /login (custom type), /whoami,
// /logout (MaxAge -1).
func newEchoApp(gs *gorillastore.Store) *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.Use(session.Middleware(gs))
	views := func(c echo.Context) (int, error) {
		s, err := session.Get("session", c)
		if err != nil {
			return 0, err
		}
		n, _ := s.Values["views"].(int)
		return n, nil
	}
	e.GET("/count", func(c echo.Context) error {
		n, err := views(c)
		if err != nil {
			return err
		}
		s, _ := session.Get("session", c)
		s.Values["views"] = n + 1
		if err := s.Save(c.Request(), c.Response()); err != nil {
			return err
		}
		return c.String(http.StatusOK, fmt.Sprint(n+1))
	})
	e.GET("/peek", func(c echo.Context) error {
		n, err := views(c)
		if err != nil {
			return err
		}
		return c.String(http.StatusOK, fmt.Sprint(n))
	})
	e.GET("/login", func(c echo.Context) error {
		s, err := session.Get("session", c)
		if err != nil {
			return err
		}
		s.Values["account"] = account{Name: "ann", Roles: []string{"admin", "dev"}}
		if err := s.Save(c.Request(), c.Response()); err != nil {
			return err
		}
		return c.NoContent(http.StatusOK)
	})
	e.GET("/whoami", func(c echo.Context) error {
		s, err := session.Get("session", c)
		if err != nil {
			return err
		}
		a, ok := s.Values["account"].(account)
		if !ok {
			return c.String(http.StatusOK, "nobody")
		}
		return c.String(http.StatusOK, a.Name+" "+strings.Join(a.Roles, ","))
	})
	e.GET("/logout", func(c echo.Context) error {
		s, err := session.Get("session", c)
		if err != nil {
			return err
		}
		s.Options.MaxAge = -1
		if err := s.Save(c.Request(), c.Response()); err != nil {
			return err
		}
		return c.NoContent(http.StatusOK)
	})
	return e
}

type commands struct {
	mu    sync.Mutex
	names []string
}

func (c *commands) started(_ context.Context, e *event.CommandStartedEvent) {
	switch e.CommandName {
	case "find", "update", "delete", "insert", "getMore", "aggregate", "count", "findAndModify":
		c.mu.Lock()
		c.names = append(c.names, e.CommandName)
		c.mu.Unlock()
	}
}

func (c *commands) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.names
	c.names = nil
	return n
}

// newMongoStore opens a store on a fresh collection through a client
// whose data commands are recorded.
func newMongoStore(t *testing.T) (*mongosession.Store, *commands) {
	t.Helper()
	cmds := &commands{}
	client, err := mongo.Connect(options.Client().ApplyURI(mongotest.URI(t)).
		SetMonitor(&event.CommandMonitor{Started: cmds.started}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	s, err := mongosession.New(context.Background(), mongosession.Options{
		Client:     client,
		Database:   mongotest.Database,
		Collection: mongotest.Collection(t),
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = s.Clear(context.Background())
		_ = s.Close()
	})
	cmds.take()
	return s, cmds
}

type browser struct {
	t   *testing.T
	srv *httptest.Server
	c   *http.Client
}

func newBrowser(t *testing.T, h http.Handler) *browser {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, srv: srv, c: &http.Client{Jar: jar}}
}

func (b *browser) expect(path, want string) *http.Response {
	b.t.Helper()
	resp, err := b.c.Get(b.srv.URL + path)
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

func (b *browser) cookie() string {
	u, _ := url.Parse(b.srv.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == "session" {
			return c.Value
		}
	}
	return ""
}

func (b *browser) setCookie(v string) {
	u, _ := url.Parse(b.srv.URL)
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: "session", Value: v, Path: "/"}})
}

func countDocs(t *testing.T, ms *mongosession.Store, filter bson.D) int64 {
	t.Helper()
	n, err := ms.Collection().CountDocuments(context.Background(), filter)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestEchoCounterAndCommands(t *testing.T) {
	ms, cmds := newMongoStore(t)
	b := newBrowser(t, newEchoApp(gorillastore.New(ms, hashKey)))
	b.expect("/count", "1")
	b.expect("/count", "2")
	cmds.take()
	b.expect("/count", "3")
	if got := cmds.take(); !slices.Equal(got, []string{"find", "update"}) {
		t.Fatalf("a counting request sent %v; want [find update]", got)
	}
	b.expect("/peek", "3")
	if got := cmds.take(); !slices.Equal(got, []string{"find"}) {
		t.Fatalf("a reading request sent %v; want [find]", got)
	}
	if n := countDocs(t, ms, bson.D{}); n != 1 {
		t.Fatalf("%d documents; want 1", n)
	}
}

func TestEchoCustomType(t *testing.T) {
	ms, _ := newMongoStore(t)
	b := newBrowser(t, newEchoApp(gorillastore.New(ms, hashKey)))
	b.expect("/whoami", "nobody")
	b.expect("/login", "")
	b.expect("/whoami", "ann admin,dev")
}

func TestEchoLogout(t *testing.T) {
	ms, cmds := newMongoStore(t)
	b := newBrowser(t, newEchoApp(gorillastore.New(ms, hashKey)))
	b.expect("/count", "1")
	if n := countDocs(t, ms, bson.D{}); n != 1 {
		t.Fatalf("%d documents before logout; want 1", n)
	}
	cmds.take()
	b.expect("/logout", "")
	if got := cmds.take(); !slices.Equal(got, []string{"find", "delete"}) {
		t.Fatalf("logout sent %v; want [find delete]", got)
	}
	if n := countDocs(t, ms, bson.D{}); n != 0 {
		t.Fatalf("%d documents after logout; want 0", n)
	}
	if b.cookie() != "" {
		t.Fatal("the browser kept the session cookie after logout")
	}
	b.expect("/peek", "0")
}

func TestEchoExpiry(t *testing.T) {
	ms, _ := newMongoStore(t)
	gs := gorillastore.New(ms, hashKey)
	gs.MaxAge(1)
	b := newBrowser(t, newEchoApp(gs))
	b.expect("/count", "1")
	kept := b.cookie()
	time.Sleep(1200 * time.Millisecond)
	b.setCookie(kept) // a client that ignores Max-Age
	b.expect("/peek", "0")
}

func TestEchoTamperedCookie(t *testing.T) {
	ms, cmds := newMongoStore(t)
	b := newBrowser(t, newEchoApp(gorillastore.New(ms, hashKey, blockKey)))
	b.expect("/count", "1")
	good := b.cookie()
	bad := []byte(good)
	bad[len(bad)/2] ^= 0x01
	b.setCookie(string(bad))
	cmds.take()
	b.expect("/peek", "0")
	if got := cmds.take(); len(got) != 0 {
		t.Fatalf("a tampered cookie sent %v; want nothing", got)
	}
	b.setCookie(good)
	b.expect("/peek", "1")
}

func TestEchoKeyRotation(t *testing.T) {
	ms, _ := newMongoStore(t)
	oldKey := []byte("old-hash-key-old-hash-key-0123456")
	b := newBrowser(t, newEchoApp(gorillastore.New(ms, oldKey)))
	b.expect("/count", "1")
	old := b.cookie()
	b.srv.Config.Handler = newEchoApp(gorillastore.New(ms, hashKey, blockKey, oldKey, nil))
	b.expect("/count", "2")
	b.srv.Config.Handler = newEchoApp(gorillastore.New(ms, hashKey, blockKey))
	b.expect("/count", "3")
	b.setCookie(old)
	b.expect("/peek", "0")
}

func TestEchoTwoAppsTwoCollections(t *testing.T) {
	msA, _ := newMongoStore(t)
	msB, _ := newMongoStore(t)
	b := newBrowser(t, newEchoApp(gorillastore.New(msA, hashKey)))
	b.expect("/count", "1")
	b.expect("/count", "2")
	b.srv.Config.Handler = newEchoApp(gorillastore.New(msB, hashKey))
	b.expect("/peek", "0")
	b.expect("/count", "1")
	if a, bb := countDocs(t, msA, bson.D{}), countDocs(t, msB, bson.D{}); a != 1 || bb != 1 {
		t.Fatalf("documents: A %d, B %d; want 1 each", a, bb)
	}
}

func TestEchoHostileCookies(t *testing.T) {
	ms, _ := newMongoStore(t)
	app := newEchoApp(gorillastore.New(ms, hashKey))
	for i, v := range storetest.HostileTokens() {
		r := httptest.NewRequest(http.MethodGet, "/count", nil)
		r.Header["Cookie"] = []string{"session=" + v}
		w := httptest.NewRecorder()
		app.ServeHTTP(w, r)
		if w.Code != http.StatusOK || w.Body.String() != "1" {
			t.Fatalf("hostile cookie %d: %d %q; want 200 \"1\"", i, w.Code, bytes.TrimSpace(w.Body.Bytes()))
		}
	}
}

func TestEchoStoreDown(t *testing.T) {
	ms, _ := newMongoStore(t)
	b := newBrowser(t, newEchoApp(gorillastore.New(ms, hashKey)))
	b.expect("/count", "1")
	if err := ms.Close(); err != nil {
		t.Fatal(err)
	}
	resp, err := b.c.Get(b.srv.URL + "/count")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("with the store closed: %d; want 500 (the load error reaches the handler)", resp.StatusCode)
	}
}
