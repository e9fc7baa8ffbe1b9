package gorillastore_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/gorillastore"
	"github.com/mongosession/mongosession/internal/securitytest"
)

// TestLogoutSticksAgainstSlowRequest is the attack of issue 12 through
// gorilla/sessions: log in, start a slow request with a copy of the cookie
// (a thief's, or a slow upload), log out, let the slow request finish and
// save. The slow request answers normally, but its save writes nothing:
// the cookie is then a new visitor's, and the collection holds no session
// data under its ID.
func TestLogoutSticksAgainstSlowRequest(t *testing.T) {
	ms, _ := newMongoStore(t, mongosession.Options{})
	gs := gorillastore.New(ms, hashKey)
	entered, release := make(chan struct{}), make(chan struct{})
	mux := http.NewServeMux()
	handle := func(path string, f func(w http.ResponseWriter, r *http.Request, s *sessions.Session) error) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			s, err := gs.Get(r, cookieName)
			if err == nil {
				err = f(w, r, s)
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
			}
		})
	}
	handle("/login", func(w http.ResponseWriter, r *http.Request, s *sessions.Session) error {
		s.Values["user"] = "alice"
		return s.Save(r, w)
	})
	handle("/whoami", func(w http.ResponseWriter, r *http.Request, s *sessions.Session) error {
		u, _ := s.Values["user"].(string)
		_, err := fmt.Fprint(w, u)
		return err
	})
	handle("/slow", func(w http.ResponseWriter, r *http.Request, s *sessions.Session) error {
		close(entered) // the session is loaded
		<-release
		s.Values["upload"] = "done"
		return s.Save(r, w)
	})
	handle("/logout", func(w http.ResponseWriter, r *http.Request, s *sessions.Session) error {
		s.Options.MaxAge = -1
		return s.Save(r, w)
	})
	victim := newBrowser(t, mux)
	victim.get("/login")
	victim.expect("/whoami", "alice")
	cookie := victim.cookie(cookieName)
	if cookie == nil {
		t.Fatal("no session cookie after login")
	}
	var id string
	if err := securecookie.DecodeMulti(cookieName, cookie.Value, &id, gs.Codecs...); err != nil {
		t.Fatalf("the face's own cookie does not decode: %v", err)
	}

	// The thief's slow request, with a copy of the cookie.
	finish := securitytest.HoldOpen(t, entered, func() (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodGet, victim.srv.URL+"/slow", nil)
		req.AddCookie(&http.Cookie{Name: cookieName, Value: cookie.Value})
		return http.DefaultClient.Do(req)
	})
	victim.expect("/logout", "")
	close(release)
	if got := finish(); got != "200 " {
		t.Fatalf("the slow request answered %q; want 200 (its save writes nothing and does not fail it)", got)
	}

	thief := newBrowser(t, mux)
	thief.setCookie(cookieName, cookie.Value)
	thief.expect("/whoami", "")
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
