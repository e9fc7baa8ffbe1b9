package gorillastore_test

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/gorillastore"
	"github.com/mongosession/mongosession/internal/storetest"
)

// TestConformance runs the engine's conformance suite through the gorilla
// face: a token is a session ID carried in a signed cookie, its bytes the
// session value "data", its expiry the session's MaxAge (whole seconds).
func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Config{
		New: func(t *testing.T) storetest.Store {
			ms, _ := newMongoStore(t, mongosession.Options{})
			return adapter{gs: gorillastore.New(ms, hashKey, blockKey), ms: ms}
		},
		ExpiryResolution: time.Second,
	})
}

type adapter struct {
	gs *gorillastore.Store
	ms *mongosession.Store
}

// request returns a request carrying token in a cookie signed by the
// store's codecs; a token too long for a cookie is sent without one, as
// no browser could send it.
func (a adapter) request(ctx context.Context, token string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx)
	if v, err := securecookie.EncodeMulti(cookieName, token, a.gs.Codecs...); err == nil {
		r.AddCookie(&http.Cookie{Name: cookieName, Value: v})
	}
	return r
}

func (a adapter) Find(ctx context.Context, token string) ([]byte, bool, error) {
	s, err := a.gs.New(a.request(ctx, token), cookieName)
	if err != nil || s.IsNew {
		return nil, false, err
	}
	b, _ := s.Values["data"].([]byte)
	if b == nil {
		b = []byte{}
	}
	return b, true, nil
}

func (a adapter) session(token string, maxAge int) *sessions.Session {
	s := sessions.NewSession(a.gs, cookieName)
	opts := *a.gs.Options
	opts.MaxAge = maxAge
	s.Options = &opts
	s.ID = token
	return s
}

func (a adapter) Commit(ctx context.Context, token string, b []byte, expiry time.Time) error {
	s := a.session(token, max(1, int(math.Ceil(time.Until(expiry).Seconds()))))
	s.Values["data"] = b
	return a.gs.Save(httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx), httptest.NewRecorder(), s)
}

func (a adapter) Delete(ctx context.Context, token string) error {
	return a.gs.Save(httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx), httptest.NewRecorder(), a.session(token, -1))
}

func (a adapter) Clear(ctx context.Context) error { return a.ms.Clear(ctx) }
