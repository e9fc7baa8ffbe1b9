package main

// The gorilla face through echo: echo-contrib/session's middleware driving
// gorillastore in a real echo v4 app, over HTTP with a cookie jar. These
// tests live in the echo example's module so that gorillastore's go.mod
// stays free of echo (see gorillastore/README.md).

import (
	"bytes"
	"encoding/gob"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo-contrib/session"
	"github.com/labstack/echo/v4"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/gorillastore"
	"github.com/mongosession/mongosession/internal/browsertest"
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

// newMongoStore opens a store on a fresh collection through a client
// whose data commands are recorded.
func newMongoStore(t *testing.T) (*mongosession.Store, *mongotest.Commands) {
	t.Helper()
	cmds := mongotest.DataCommands()
	s := mongotest.NewRecordedStore(t, mongosession.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, cmds)
	return s, cmds
}

// newBrowser serves h until the test ends and returns a browser of it
// whose session cookie is "session".
func newBrowser(t *testing.T, h http.Handler) *browsertest.Browser {
	return browsertest.New(t, h, "session")
}

func TestEchoCounterAndCommands(t *testing.T) {
	ms, cmds := newMongoStore(t)
	b := newBrowser(t, newEchoApp(gorillastore.New(ms, hashKey)))
	b.Expect("/count", "1")
	b.Expect("/count", "2")
	cmds.Reset()
	b.Expect("/count", "3")
	if got := cmds.TakeNames(); !slices.Equal(got, []string{"find", "update"}) {
		t.Fatalf("a counting request sent %v; want [find update]", got)
	}
	b.Expect("/peek", "3")
	if got := cmds.TakeNames(); !slices.Equal(got, []string{"find"}) {
		t.Fatalf("a reading request sent %v; want [find]", got)
	}
	if n := mongotest.CountDocuments(t, ms, bson.D{}); n != 1 {
		t.Fatalf("%d documents; want 1", n)
	}
}

func TestEchoCustomType(t *testing.T) {
	ms, _ := newMongoStore(t)
	b := newBrowser(t, newEchoApp(gorillastore.New(ms, hashKey)))
	b.Expect("/whoami", "nobody")
	b.Expect("/login", "")
	b.Expect("/whoami", "ann admin,dev")
}

func TestEchoLogout(t *testing.T) {
	ms, cmds := newMongoStore(t)
	b := newBrowser(t, newEchoApp(gorillastore.New(ms, hashKey)))
	b.Expect("/count", "1")
	if n := mongotest.CountDocuments(t, ms, bson.D{}); n != 1 {
		t.Fatalf("%d documents before logout; want 1", n)
	}
	cmds.Reset()
	b.Expect("/logout", "")
	if got := cmds.TakeNames(); !slices.Equal(got, []string{"find", "delete"}) {
		t.Fatalf("logout sent %v; want [find delete]", got)
	}
	if n := mongotest.CountDocuments(t, ms, bson.D{}); n != 0 {
		t.Fatalf("%d documents after logout; want 0", n)
	}
	if b.Cookie() != "" {
		t.Fatal("the browser kept the session cookie after logout")
	}
	b.Expect("/peek", "0")
}

func TestEchoExpiry(t *testing.T) {
	ms, _ := newMongoStore(t)
	gs := gorillastore.New(ms, hashKey)
	gs.MaxAge(1)
	b := newBrowser(t, newEchoApp(gs))
	b.Expect("/count", "1")
	kept := b.Cookie()
	time.Sleep(1200 * time.Millisecond)
	b.SetCookie(kept) // a client that ignores Max-Age
	b.Expect("/peek", "0")
}

func TestEchoTamperedCookie(t *testing.T) {
	ms, cmds := newMongoStore(t)
	b := newBrowser(t, newEchoApp(gorillastore.New(ms, hashKey, blockKey)))
	b.Expect("/count", "1")
	good := b.Cookie()
	bad := []byte(good)
	bad[len(bad)/2] ^= 0x01
	b.SetCookie(string(bad))
	cmds.Reset()
	b.Expect("/peek", "0")
	if got := cmds.TakeNames(); len(got) != 0 {
		t.Fatalf("a tampered cookie sent %v; want nothing", got)
	}
	b.SetCookie(good)
	b.Expect("/peek", "1")
}

func TestEchoKeyRotation(t *testing.T) {
	ms, _ := newMongoStore(t)
	oldKey := []byte("old-hash-key-old-hash-key-0123456")
	b := newBrowser(t, newEchoApp(gorillastore.New(ms, oldKey)))
	b.Expect("/count", "1")
	old := b.Cookie()
	b.Server.Config.Handler = newEchoApp(gorillastore.New(ms, hashKey, blockKey, oldKey, nil))
	b.Expect("/count", "2")
	b.Server.Config.Handler = newEchoApp(gorillastore.New(ms, hashKey, blockKey))
	b.Expect("/count", "3")
	b.SetCookie(old)
	b.Expect("/peek", "0")
}

func TestEchoTwoAppsTwoCollections(t *testing.T) {
	msA, _ := newMongoStore(t)
	msB, _ := newMongoStore(t)
	b := newBrowser(t, newEchoApp(gorillastore.New(msA, hashKey)))
	b.Expect("/count", "1")
	b.Expect("/count", "2")
	b.Server.Config.Handler = newEchoApp(gorillastore.New(msB, hashKey))
	b.Expect("/peek", "0")
	b.Expect("/count", "1")
	if a, bb := mongotest.CountDocuments(t, msA, bson.D{}), mongotest.CountDocuments(t, msB, bson.D{}); a != 1 || bb != 1 {
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
	b.Expect("/count", "1")
	if err := ms.Close(); err != nil {
		t.Fatal(err)
	}
	resp, err := b.Client.Get(b.Server.URL + "/count")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("with the store closed: %d; want 500 (the load error reaches the handler)", resp.StatusCode)
	}
}
