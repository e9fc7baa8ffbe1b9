package httpsession_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/httpsession"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// TestPlantedTokenRacingLogin: an attacker plants the token of a session
// of their own in the victim's browser; a request of that browser reads
// the session, the victim logs in with the same cookie, and the first
// request goes on (or the attacker sends the planted token anew). Logins
// scs-style (RenewToken, then Put of the user id, no SetUser) and with
// RenewToken before SetUser. Invariant: nothing written with the planted
// token reaches the logged-in session, and the planted token cannot end it.
func TestPlantedTokenRacingLogin(t *testing.T) {
	logins := map[string]func(m *httpsession.Manager, r *http.Request) error{
		"scs-style": func(m *httpsession.Manager, r *http.Request) error {
			if err := m.RenewToken(r.Context()); err != nil {
				return err
			}
			m.Put(r.Context(), "uid", "alice")
			return nil
		},
		"RenewToken before SetUser": func(m *httpsession.Manager, r *http.Request) error {
			if err := m.RenewToken(r.Context()); err != nil {
				return err
			}
			m.SetUser(r.Context(), "alice")
			m.Put(r.Context(), "uid", "alice")
			return nil
		},
	}
	racers := map[string]func(m *httpsession.Manager, r *http.Request) error{
		"Put": func(m *httpsession.Manager, r *http.Request) error {
			m.Put(r.Context(), "csrf", "attacker-known")
			return nil
		},
		"Destroy": func(m *httpsession.Manager, r *http.Request) error { return m.Destroy(r.Context()) },
	}
	for lname, login := range logins {
		for rname, racer := range racers {
			t.Run(lname+"/"+rname, func(t *testing.T) {
				e := newEnv(t, envConfig{poolSize: concurrency(t)})
				attacker := e.client(t)
				e.mustGet(t, attacker, "/put?k=csrf&v=attacker-known")
				planted := e.token(attacker)
				victim := e.withCookie(t, planted)
				loaded, resume, done := pausing(t, e, func(r *http.Request) error { return racer(e.m, r) })
				answered := make(chan struct{})
				go func() { e.try(victim, "/pause"); close(answered) }()
				<-loaded
				// The victim logs in, in another tab.
				login := login
				srv := e.srv.Config.Handler
				e.srv.Config.Handler = e.m.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					e.m.Put(r.Context(), "csrf", "fresh")
					if err := login(e.m, r); err != nil {
						http.Error(w, err.Error(), 500)
					}
				}))
				e.mustGet(t, victim, "/login")
				e.srv.Config.Handler = srv
				loggedIn := e.token(victim)
				if loggedIn == planted {
					t.Fatal("the login did not renew the token")
				}
				close(resume)
				<-done
				<-answered
				// The attacker tries again with the planted token.
				e.get(t, e.withCookie(t, planted), "/put?k=csrf&v=attacker-known")
				e.get(t, e.withCookie(t, planted), "/destroy")

				c := e.withCookie(t, loggedIn)
				if got := e.mustGet(t, c, "/get?k=uid"); got != "alice" {
					t.Fatalf("the logged-in session lost its user id: %q (ended by the planted token?)", got)
				}
				if got := e.mustGet(t, c, "/get?k=csrf"); got != "fresh" {
					t.Errorf("the logged-in session's csrf is %q, want the login's own", got)
				}
				if got := e.mustGet(t, e.withCookie(t, planted), "/get?k=uid"); got != "" {
					t.Errorf("the planted token reads the logged-in session: %q", got)
				}
			})
		}
	}
}

// TestLostRenewalResponse: a renewal's response never reached the browser,
// which keeps sending the old token. For 30 seconds it is taken for a
// request racing the renewal: no new session, no cookie. After that, the
// token is unknown: a write starts a new session (the browser is not locked
// out). The old token never reads the renewed session.
func TestLostRenewalResponse(t *testing.T) {
	e := newEnv(t, envConfig{})
	c := e.client(t)
	e.mustGet(t, c, "/login?user=alice")
	old := e.token(c)
	e.mustGet(t, c, "/renew") // its response is "lost": the test keeps old
	lost := e.withCookie(t, old)
	_, body, res := e.get(t, lost, "/put?k=a&v=1")
	if body != "ok" || res.Header.Get("Set-Cookie") != "" {
		t.Errorf("within 30 s of the renewal: %q, Set-Cookie %q; want no new session", body, res.Header.Get("Set-Cookie"))
	}
	if got := e.mustGet(t, lost, "/user"); got != "" {
		t.Errorf("the old token reads the renewed session: user %q", got)
	}
	// 31 seconds later.
	if _, err := e.coll.UpdateOne(context.Background(), bson.D{{Key: "_id", Value: old[:selectorLen]}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "renewed", Value: time.Now().Add(-31 * time.Second)}}}}); err != nil {
		t.Fatal(err)
	}
	e.mustGet(t, lost, "/put?k=a&v=1")
	if e.token(lost) == old || e.token(lost) == "" {
		t.Fatal("after the grace, a write with the old token did not start a new session")
	}
	if got := e.mustGet(t, lost, "/user"); got != "" {
		t.Errorf("the new session has user %q", got)
	}
	if n := e.live(t); n != 2 {
		t.Errorf("%d sessions, want the renewed one and the new one", n)
	}
}

// TestTwoManagers: two app instances (two Managers on two clients, one
// collection) behind a balancer that alternates between them. No
// increment is lost, and a logout on one sticks on the other.
func TestTwoManagers(t *testing.T) {
	a := newEnv(t, envConfig{})
	b := newEnv(t, envConfig{storeOpts: func(o *mongosession.Options) { o.Collection = a.coll.Name() }})
	c := a.client(t) // cookies are per host, not per port: one browser for both
	envs := []*env{a, b}
	const n = 20
	for i := range n {
		if got := envs[i%2].mustGet(t, c, "/incr?k=views"); got != strconv.Itoa(i+1) {
			t.Fatalf("request %d (instance %d): %s, want %d", i, i%2, got, i+1)
		}
	}
	if concurrency(t) == 0 {
		parallel(n, func(i int) {
			if _, _, err := envs[i%2].try(c, "/incr?k=views"); err != nil {
				t.Error(err)
			}
		})
		if got := a.mustGet(t, c, "/incr?k=views"); got != strconv.Itoa(2*n+1) {
			t.Errorf("after %d concurrent increments on two instances and one more: %s, want %d", n, got, 2*n+1)
		}
	} else {
		t.Log("concurrent increments skipped: the server does not apply concurrent updates of one document atomically")
	}
	a.mustGet(t, c, "/login?user=alice")
	b.mustGet(t, c, "/destroy")
	if got := a.mustGet(t, c, "/user"); got != "" {
		t.Errorf("logged out on one instance, still %q on the other", got)
	}
	if n := a.count(t); n != 0 {
		t.Errorf("%d documents after the logout", n)
	}
}

// TestInterleavings: one request (A) reads its session and pauses; another
// (B) runs to completion with the same cookie; then A goes on. Each row
// states what must hold afterwards. Further interleavings have tests of
// their own: a login racing a slow save (TestRequestRacingRenewalKeepsLogin),
// a planted token racing a login (TestPlantedTokenRacingLogin), a logout
// racing a renewal that kept the user (TestLogoutRacingRenewal), a lost
// renewal response (TestLostRenewalResponse), two instances
// (TestTwoManagers).
func TestInterleavings(t *testing.T) {
	type after struct {
		user  string // the user of the session the browser ends up with
		count int64  // live sessions
	}
	rows := []struct {
		name string
		pre  string                                        // before A reads
		a    func(m *httpsession.Manager, r *http.Request) // A, after B
		b    string                                        // B
		want after
	}{
		// A logout that read the session before a login in another tab
		// (the user changed): it holds the pre-login token, which can no
		// longer end the session; the login stands.
		{"logout after a login", "/put?k=a&v=1", func(m *httpsession.Manager, r *http.Request) { _ = m.Destroy(r.Context()) }, "/login?user=alice", after{"alice", 1}},
		// A login that read the session before a logout: its renewal
		// matches nothing; the logout stands, nothing is stored.
		{"login after a logout", "/put?k=a&v=1", func(m *httpsession.Manager, r *http.Request) {
			m.SetUser(r.Context(), "alice")
			_ = m.RenewToken(r.Context())
		}, "/destroy", after{"", 0}},
		// A request that read the session before a revocation: its Put,
		// Incr and renewal are dropped; the session stays revoked.
		{"Put after a revocation", "/login?user=alice", func(m *httpsession.Manager, r *http.Request) { m.Put(r.Context(), "x", 1) }, "/revokeuser?user=alice", after{"", 0}},
		{"Incr after a revocation", "/login?user=alice", func(m *httpsession.Manager, r *http.Request) { _, _ = m.Incr(r.Context(), "x", 1) }, "/revokeuser?user=alice", after{"", 0}},
		{"SetUser after a revocation", "/login?user=alice", func(m *httpsession.Manager, r *http.Request) { m.SetUser(r.Context(), "mallory") }, "/revokeuser?user=alice", after{"", 0}},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			e := newEnv(t, envConfig{poolSize: concurrency(t)})
			base := e.srv.Config.Handler
			e.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/revokeuser" {
					_, _ = e.m.RevokeUser(r.Context(), r.FormValue("user"))
					return
				}
				base.ServeHTTP(w, r)
			})
			c := e.client(t)
			e.mustGet(t, c, row.pre)
			before := e.token(c)
			inner := e.srv.Config.Handler
			loaded, resume, done := pausing(t, e, func(r *http.Request) error { row.a(e.m, r); return nil })
			paused := e.srv.Config.Handler
			e.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/pause" {
					paused.ServeHTTP(w, r)
					return
				}
				inner.ServeHTTP(w, r)
			})
			answered := make(chan struct{})
			go func() { e.try(e.withCookie(t, before), "/pause"); close(answered) }()
			<-loaded
			e.mustGet(t, c, row.b)
			close(resume)
			<-done
			<-answered
			if got := e.mustGet(t, c, "/user"); got != row.want.user {
				t.Errorf("the browser's user is %q, want %q", got, row.want.user)
			}
			if got := e.mustGet(t, e.withCookie(t, before), "/user"); got != "" && before != e.token(c) {
				t.Errorf("the token from before B still reads user %q", got)
			}
			if n := e.live(t); n != row.want.count {
				t.Errorf("%d live sessions, want %d", n, row.want.count)
			}
		})
	}
}
