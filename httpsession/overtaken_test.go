package httpsession_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/mongosession/mongosession/httpsession"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// Regression tests for requests that another request's renewal overtook:
// what they may carry over to the successor, and what they may not.

// racing runs after in a request sent with token that loads its session,
// then lets renew run (another request renewing the token), then lets after
// finish. It returns after's error and the racing response's Set-Cookie.
func racing(t *testing.T, e *env, token string, renew func(), after func(r *http.Request) error) (error, string) {
	t.Helper()
	loaded, resume, done := pausing(t, e, after)
	var setCookie string
	answered := make(chan struct{})
	go func() {
		defer close(answered)
		if res, err := e.withCookie(t, token).Get(e.srv.URL + "/pause"); err == nil {
			setCookie = res.Header.Get("Set-Cookie")
			res.Body.Close()
		}
	}()
	<-loaded
	renew()
	close(resume)
	err := <-done
	<-answered
	return err, setCookie
}

// stored counts the documents holding key among their values.
func (e *env) stored(t *testing.T, key string) int64 {
	t.Helper()
	n, err := e.coll.CountDocuments(context.Background(), bson.D{{Key: "session." + key, Value: bson.D{{Key: "$exists", Value: true}}}})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestFixationPutAcrossLogin: an attacker plants an anonymous token in the
// victim's browser and keeps a request of it open; the victim logs in. The
// attacker's Put, saved after the login, must not land in the victim's
// logged-in session.
func TestFixationPutAcrossLogin(t *testing.T) {
	e := newEnv(t, envConfig{})
	attacker := e.client(t)
	e.mustGet(t, attacker, "/put?k=a&v=1")
	planted := e.token(attacker)
	victim := e.withCookie(t, planted)
	err, setCookie := racing(t, e, planted, func() {
		e.mustGet(t, victim, "/login?user=alice")
	}, func(r *http.Request) error {
		e.m.Put(r.Context(), "evil", "1")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if setCookie != "" {
		t.Errorf("the attacker's request got a cookie: %q", setCookie)
	}
	if n := e.stored(t, "evil"); n != 0 {
		t.Errorf("the attacker's Put is stored in %d session(s)", n)
	}
	if got := e.mustGet(t, victim, "/user"); got != "alice" {
		t.Errorf("the victim is logged in as %q, want alice", got)
	}
	if n := e.live(t); n != 1 {
		t.Errorf("%d live sessions, want 1", n)
	}
}

// TestFixationViaChase: the attacker's request, overtaken by the victim's
// login, tries Incr and RenewToken: neither may reach the victim's session,
// and the attacker must get no cookie (the victim's session must not be
// fenced and handed over).
func TestFixationViaChase(t *testing.T) {
	e := newEnv(t, envConfig{})
	attacker := e.client(t)
	e.mustGet(t, attacker, "/put?k=a&v=1")
	planted := e.token(attacker)
	victim := e.withCookie(t, planted)
	var user string
	err, setCookie := racing(t, e, planted, func() {
		e.mustGet(t, victim, "/login?user=alice")
	}, func(r *http.Request) error {
		if n, err := e.m.Incr(r.Context(), "n", 1); !errors.Is(err, httpsession.ErrSessionEnded) {
			return fmt.Errorf("Incr across the victim's login: %d %v, want ErrSessionEnded", n, err)
		}
		if err := e.m.RenewToken(r.Context()); !errors.Is(err, httpsession.ErrSessionEnded) {
			return fmt.Errorf("RenewToken after it: %v, want ErrSessionEnded", err)
		}
		user = e.m.User(r.Context())
		e.m.Put(r.Context(), "evil", "1")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if setCookie != "" {
		t.Errorf("the attacker's request got a cookie: %q", setCookie)
	}
	if user != "" {
		t.Errorf("the attacker's request sees user %q", user)
	}
	if n := e.stored(t, "evil"); n != 0 {
		t.Errorf("the attacker's Put is stored in %d session(s)", n)
	}
	victimToken := e.token(victim)
	if got := e.mustGet(t, victim, "/user"); got != "alice" {
		t.Errorf("the victim is logged in as %q, want alice", got)
	}
	if e.token(victim) != victimToken {
		t.Error("the victim's session was renewed away")
	}
	if got := e.mustGet(t, victim, "/incr?k=n"); got != "1" {
		t.Errorf("the victim's counter: %s, want 1 (the attacker's Incr counted)", got)
	}
	if n := e.live(t); n != 1 {
		t.Errorf("%d live sessions, want 1", n)
	}
}

// TestFollowedRequestCannotRenew: a request of alice's overtaken by
// another tab's renewal that kept alice counts on the successor and keeps
// seeing alice, but cannot renew its token (it holds only the old one), is
// given no cookie, and stores nothing after that refusal.
func TestFollowedRequestCannotRenew(t *testing.T) {
	e := newEnv(t, envConfig{})
	c := e.client(t)
	e.mustGet(t, c, "/login?user=alice")
	old := e.token(c)
	var user string
	err, setCookie := racing(t, e, old, func() {
		e.mustGet(t, c, "/login?user=alice")
	}, func(r *http.Request) error {
		if n, err := e.m.Incr(r.Context(), "n", 1); err != nil || n != 1 {
			return fmt.Errorf("Incr: %d %v, want 1 on the successor", n, err)
		}
		user = e.m.User(r.Context())
		e.m.SetUser(r.Context(), "mallory")
		if err := e.m.RenewToken(r.Context()); !errors.Is(err, httpsession.ErrSessionEnded) {
			return fmt.Errorf("RenewToken after a follow: %v, want ErrSessionEnded", err)
		}
		e.m.Put(r.Context(), "late", "1")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if setCookie != "" {
		t.Errorf("the followed request got a cookie: %q", setCookie)
	}
	if user != "alice" {
		t.Errorf("User after the follow: %q, want alice", user)
	}
	if got := e.mustGet(t, c, "/user"); got != "alice" {
		t.Errorf("the renewed session's user: %q, want alice", got)
	}
	if got := e.mustGet(t, c, "/incr?k=n"); got != "2" {
		t.Errorf("the counter: %s, want 2", got)
	}
	if n := e.stored(t, "late"); n != 0 {
		t.Errorf("a Put after the refused RenewToken is stored in %d session(s)", n)
	}
	if n := e.live(t); n != 1 {
		t.Errorf("%d live sessions, want 1", n)
	}
}

// TestSetUserNotCarriedAcrossRenewal: a request that changes the user while
// another request renews the token saves nothing to the successor: a
// change of privilege is not carried across a renewal.
func TestSetUserNotCarriedAcrossRenewal(t *testing.T) {
	e := newEnv(t, envConfig{})
	c := e.client(t)
	e.mustGet(t, c, "/login?user=alice")
	old := e.token(c)
	err, setCookie := racing(t, e, old, func() {
		e.mustGet(t, c, "/login?user=alice")
	}, func(r *http.Request) error {
		e.m.SetUser(r.Context(), "mallory")
		e.m.Put(r.Context(), "x", "1")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if setCookie != "" {
		t.Errorf("the racing request got a cookie: %q", setCookie)
	}
	if got := e.mustGet(t, c, "/user"); got != "alice" {
		t.Errorf("the renewed session's user: %q, want alice", got)
	}
	if n := e.stored(t, "x"); n != 0 {
		t.Errorf("the racing request's Put is stored in %d session(s)", n)
	}
}

// TestSealedIncrAfterFollow: on an encrypted store, a request that went on
// with another request's successor (same user) counts on what the
// successor stores, not on values it loaded with the old session: a key
// removed before the renewal counts from 0.
func TestSealedIncrAfterFollow(t *testing.T) {
	e := newEnv(t, envConfig{keys: [][]byte{encryptionKey(7)}})
	c := e.client(t)
	e.mustGet(t, c, "/login?user=alice")
	e.mustGet(t, c, "/incr?k=n")
	e.mustGet(t, c, "/incr?k=k")
	old := e.token(c)
	var gotK int64
	err, setCookie := racing(t, e, old, func() {
		e.mustGet(t, c, "/remove?k=k")
		e.mustGet(t, c, "/login?user=alice")
	}, func(r *http.Request) error {
		if _, err := e.m.Incr(r.Context(), "n", 1); err != nil {
			return err
		}
		var err error
		gotK, err = e.m.Incr(r.Context(), "k", 1)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if setCookie != "" {
		t.Errorf("the racing request got a cookie: %q", setCookie)
	}
	if gotK != 1 {
		t.Errorf("Incr of k (removed before the renewal) after a follow: %d, want 1", gotK)
	}
	if got := e.mustGet(t, c, "/incr?k=k"); got != "2" {
		t.Errorf("k after the race: %s, want 2", got)
	}
	if got := e.mustGet(t, c, "/incr?k=n"); got != "3" {
		t.Errorf("n after the race: %s, want 3", got)
	}
}
