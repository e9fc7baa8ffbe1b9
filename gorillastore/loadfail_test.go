package gorillastore_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/gorillastore"
	"github.com/mongosession/mongosession/internal/mongotest"
)

// TestSaveAfterLoadFailureWritesNothing: the database fails while a
// request loads its session, so New hands out a fresh one (gin-contrib
// logs the error and goes on); the database is back when the handler
// saves. Save must not store that fresh session and replace the user's
// cookie: it returns the load error, and the user's session is intact.
func TestSaveAfterLoadFailureWritesNothing(t *testing.T) {
	dialer := &mongotest.SwitchDialer{}
	ms := mongotest.NewStore(t, mongosession.Options{ClientOptions: options.Client().SetDialer(dialer), Timeout: time.Second})
	gs := gorillastore.New(ms, hashKey)

	req := httptest.NewRequest("GET", "/", nil)
	s1, err := gs.Get(req, cookieName)
	must(t, err)
	s1.Values["cart"] = 3
	rec := httptest.NewRecorder()
	must(t, gs.Save(req, rec, s1))
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("first save set %d cookies", len(cookies))
	}

	dialer.SetDown()
	req = httptest.NewRequest("GET", "/", nil)
	req.AddCookie(cookies[0])
	s2, err := gs.Get(req, cookieName)
	if !errors.Is(err, mongosession.ErrUnavailable) || !s2.IsNew {
		t.Fatalf("Get during the outage = new %v, %v; want a fresh session and ErrUnavailable", s2.IsNew, err)
	}
	dialer.SetUp()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, _, err := ms.FindCtx(context.Background(), "probe"); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("the store did not come back: %v", err)
		}
	}
	s2.Values["cart"] = 0
	rec = httptest.NewRecorder()
	if err := gs.Save(req, rec, s2); !errors.Is(err, mongosession.ErrUnavailable) {
		t.Fatalf("Save of the stand-in session = %v; want the load error", err)
	}
	if c := rec.Result().Cookies(); len(c) != 0 {
		t.Fatalf("Save of the stand-in session set %v; the user's cookie must stay", c)
	}

	req = httptest.NewRequest("GET", "/", nil)
	req.AddCookie(cookies[0])
	s3, err := gs.Get(req, cookieName)
	must(t, err)
	if s3.IsNew || s3.Values["cart"] != 3 {
		t.Fatalf("after the outage the session is new=%v %v; want the user's cart of 3", s3.IsNew, s3.Values)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
