package fiberstore_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gofiber/fiber/v3"
	"github.com/gofiber/fiber/v3/middleware/session"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/fiberstore"
	"github.com/mongosession/mongosession/internal/securitytest"
)

// TestLogoutSticksAgainstSlowRequest is the attack of issue 12 through
// fiber's session middleware: log in, start a slow request with a copy of
// the cookie (a thief's, or a slow upload), log out, let the slow request
// finish (the middleware saves its changed session). The slow request
// answers normally, but its save writes nothing: the cookie is then a new
// visitor's, and the collection holds no session data under its ID.
func TestLogoutSticksAgainstSlowRequest(t *testing.T) {
	store := newStore(t, mongosession.Options{})
	entered, release := make(chan struct{}), make(chan struct{})
	app := fiber.New()
	app.Use(session.New(session.Config{Storage: fiberstore.New(store), IdleTimeout: time.Hour}))
	app.Get("/login", func(c fiber.Ctx) error {
		session.FromContext(c).Set("user", "alice")
		return c.SendString("")
	})
	app.Get("/whoami", func(c fiber.Ctx) error {
		u, _ := session.FromContext(c).Get("user").(string)
		return c.SendString(u)
	})
	app.Get("/slow", func(c fiber.Ctx) error {
		sess := session.FromContext(c) // loaded by the middleware
		close(entered)
		<-release
		sess.Set("upload", "done")
		return c.SendString("")
	})
	app.Get("/logout", func(c fiber.Ctx) error {
		return session.FromContext(c).Destroy()
	})

	victim := newBrowser(t, app)
	victim.expect("/login", "")
	victim.expect("/whoami", "alice")
	id := victim.sessionID()
	if id == "" {
		t.Fatal("no session cookie after login")
	}

	// The thief's slow request, with a copy of the cookie.
	finish := securitytest.HoldOpen(t, entered, func() (*http.Response, error) {
		req := httptest.NewRequest(http.MethodGet, "http://example.com/slow", nil)
		req.AddCookie(&http.Cookie{Name: cookieName, Value: id})
		return app.Test(req, fiber.TestConfig{Timeout: 0}) // no timeout: it waits for release
	})
	victim.expect("/logout", "")
	close(release)
	if got := finish(); got != "200 " {
		t.Fatalf("the slow request answered %q; want 200 (its save writes nothing and does not fail it)", got)
	}

	thief := newBrowser(t, app)
	if status, body := thief.get("/whoami", &http.Cookie{Name: cookieName, Value: id}); status != http.StatusOK || body != "" {
		t.Fatalf("the stolen cookie after logout = %d %q; want a new visitor's 200 \"\"", status, body)
	}
	if n := documents(t, store, id); n != 0 {
		t.Fatal("the collection holds a live session for the logged-out cookie")
	}
}

// TestSetAfterDeleteWritesNothing: the README's warning for middleware
// other than sessions. A key that Delete ended takes no new value while its
// marker lasts: Set returns nil and Get still finds nothing.
func TestSetAfterDeleteWritesNothing(t *testing.T) {
	s := newStorage(t, mongosession.Options{})
	if err := s.Set("key", []byte("v1"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("key"); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("key", []byte("v2"), time.Hour); err != nil {
		t.Fatalf("Set after Delete = %v; want nil (the write is dropped, not failed)", err)
	}
	if b, err := s.Get("key"); b != nil || err != nil {
		t.Fatalf("Get after Delete then Set = %q, %v; want nil, nil (ended stays ended)", b, err)
	}
}
