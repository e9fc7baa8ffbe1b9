package ginstore_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/gin-contrib/sessions"
	"github.com/gin-gonic/gin"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/ginstore"
	"github.com/mongosession/mongosession/internal/securitytest"
)

// TestLogoutSticksAgainstSlowRequest is the attack of issue 12 through
// gin-contrib/sessions' middleware: log in, start a slow request with a
// copy of the cookie (a thief's, or a slow upload), log out, let the slow
// request finish and save. The slow request answers normally, but its save
// writes nothing: the cookie is then a new visitor's, and the collection
// holds no session data under its ID.
func TestLogoutSticksAgainstSlowRequest(t *testing.T) {
	ms, _ := newMongoStore(t)
	store := ginstore.New(ms, hashKey)
	entered, release := make(chan struct{}), make(chan struct{})
	r := gin.New()
	r.Use(sessions.Sessions("session", store))
	save := func(c *gin.Context, s sessions.Session) {
		if err := s.Save(); err != nil {
			c.String(http.StatusInternalServerError, "session unavailable")
			return
		}
		c.String(http.StatusOK, "")
	}
	r.GET("/login", func(c *gin.Context) {
		s := sessions.Default(c)
		s.Set("user", "alice")
		save(c, s)
	})
	r.GET("/whoami", func(c *gin.Context) {
		u, _ := sessions.Default(c).Get("user").(string)
		c.String(http.StatusOK, u)
	})
	r.GET("/slow", func(c *gin.Context) {
		s := sessions.Default(c)
		_ = s.Get("user") // loads the session
		close(entered)
		<-release
		s.Set("upload", "done")
		save(c, s)
	})
	r.GET("/logout", func(c *gin.Context) {
		s := sessions.Default(c)
		s.Options(sessions.Options{Path: "/", MaxAge: -1})
		save(c, s)
	})

	victim := newBrowser(t, r)
	victim.Expect("/login", "")
	victim.Expect("/whoami", "alice")
	cookie := victim.Cookie()
	if cookie == "" {
		t.Fatal("no session cookie after login")
	}
	id := ginSecID(t, store, cookie)

	// The thief's slow request, with a copy of the cookie.
	finish := securitytest.HoldOpen(t, entered, func() (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodGet, victim.Server.URL+"/slow", nil)
		req.AddCookie(&http.Cookie{Name: "session", Value: cookie})
		return http.DefaultClient.Do(req)
	})
	victim.Expect("/logout", "")
	close(release)
	if got := finish(); got != "200 " {
		t.Fatalf("the slow request answered %q; want 200 (its save writes nothing and does not fail it)", got)
	}

	thief := newBrowser(t, r)
	thief.SetCookie(cookie)
	thief.Expect("/whoami", "")
	live, err := ms.Collection().CountDocuments(context.Background(), bson.D{
		{Key: "_id", Value: mongosession.HashID(id)},
		{Key: "session", Value: bson.D{{Key: "$exists", Value: true}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if live != 0 {
		t.Fatal("the collection holds a live session for the logged-out cookie")
	}
}
