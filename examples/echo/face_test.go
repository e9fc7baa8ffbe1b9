package main

// The gorilla face through echo: echo-contrib/session's middleware driving
// gorillastore in a real echo v4 app, over HTTP with a cookie jar. These
// tests live in the echo example's module so that gorillastore's go.mod
// stays free of echo (see gorillastore/README.md). The scenarios every
// face shares are internal/facetest's; Expiry is echo's own.

import (
	"encoding/gob"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo-contrib/session"
	"github.com/labstack/echo/v4"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/gorillastore"
	"github.com/mongosession/mongosession/internal/browsertest"
	"github.com/mongosession/mongosession/internal/facetest"
	"github.com/mongosession/mongosession/internal/mongotest"
)

var hashKey = []byte("0123456789abcdef0123456789abcdef")

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

// echoFace is newEchoApp over gorillastore, for the facetest suite.
func echoFace(_ *testing.T, store *mongosession.Store, keyPairs ...[]byte) http.Handler {
	return newEchoApp(gorillastore.New(store, keyPairs...))
}

func TestEchoCounterAndCommands(t *testing.T) { facetest.CounterAndCommands(t, echoFace) }

func TestEchoCustomType(t *testing.T) { facetest.CustomType(t, echoFace) }

func TestEchoLogout(t *testing.T) { facetest.Logout(t, echoFace) }

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

func TestEchoTamperedCookie(t *testing.T) { facetest.TamperedCookie(t, echoFace) }

func TestEchoKeyRotation(t *testing.T) { facetest.KeyRotation(t, echoFace) }

func TestEchoTwoAppsTwoCollections(t *testing.T) { facetest.TwoAppsTwoCollections(t, echoFace) }

func TestEchoHostileCookies(t *testing.T) { facetest.HostileCookies(t, echoFace) }

func TestEchoStoreDown(t *testing.T) {
	facetest.StoreDown(t, echoFace, "(the load error reaches the handler)")
}
