package nodesession_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mongosession/mongosession/internal/mongotest"
	"github.com/mongosession/mongosession/nodesession"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// cookieNames are the cookies that carry p's session.
func (p pairing) cookieNames() []string {
	if p.name == "koa" {
		return []string{p.cookie, p.cookie + ".sig"}
	}
	return []string{p.cookie}
}

// storedID is the _id of the session whose cookie value is v.
func (p pairing) storedID(v string) string {
	if p.name == "koa" {
		return "koa:sess:" + v
	}
	raw, _ := url.PathUnescape(v)
	raw = strings.TrimPrefix(raw, "s:")
	if i := strings.LastIndex(raw, "."); i >= 0 {
		raw = raw[:i]
	}
	return raw
}

// TestInteropRegenerate: an attacker gets a session from the Node app and
// plants its cookie in the victim's browser; the victim logs in on the Go
// side, which calls Regenerate. The victim's browser gets a new cookie in
// the Node app's format, which both sides read as logged in with the
// session's values; the planted cookie is logged out on both sides, its
// document gone. A Node write between the Go load and the save moves to
// the new id with the session; a Node logout then wins: nothing is stored
// and no cookie issued.
func TestInteropRegenerate(t *testing.T) {
	needNode(t)
	for _, p := range allPairings() {
		t.Run(p.label(), func(t *testing.T) {
			apps := p.start(t)
			st, node, m, goBase := apps.st, apps.node, apps.m, apps.goBase

			attacker := newClient(t)
			attacker.get(node.base, "/set?key=cart&json="+url.QueryEscape(`["sku-1"]`))
			victim := newClient(t)
			planted := map[string]string{}
			for _, n := range p.cookieNames() {
				planted[n] = attacker.cookie(node.base, n)
				if planted[n] == "" {
					t.Fatalf("the Node app issued no %s cookie", n)
				}
				victim.setCookie(node.base, n, planted[n])
			}
			if v := victim.session(goBase); !sameJSON(norm(v["cart"]), []any{"sku-1"}) {
				t.Fatalf("the planted cookie does not load its session on Go: %v", v)
			}

			victim.get(goBase, "/regenerate?user=alice")
			if got := victim.cookie(node.base, p.cookie); got == planted[p.cookie] || got == "" {
				t.Fatalf("the login did not re-issue the session cookie (%q)", got)
			}
			nodeView := victim.session(node.base)
			sameView(t, "after the Go login", nodeView, victim.session(goBase))
			if nodeView["user"] != "alice" || !sameJSON(norm(nodeView["cart"]), []any{"sku-1"}) {
				t.Fatalf("after the Go login the session is %v; want the user and the cart", nodeView)
			}
			for side, base := range map[string]string{"Node": node.base, "Go": goBase} {
				if v := attacker.session(base); len(v) != 0 {
					t.Errorf("%s still serves the planted cookie's session: %v", side, v)
				}
			}
			if n := mongotest.CountDocuments(t, st, bson.D{{Key: "_id", Value: p.storedID(planted[p.cookie])}}); n != 0 {
				t.Errorf("the planted cookie's document is still stored (%d)", n)
			}
			// The Node app keeps writing to the new session.
			victim.get(node.base, "/set?key=after&json=1")
			if v := victim.session(goBase); norm(v["after"]) != 1.0 || v["user"] != "alice" {
				t.Errorf("Go does not see the Node app's write to the new session: %v", v)
			}

			hs := newHoldServer(t, m)
			login := func(s *nodesession.Session) error {
				if err := s.Regenerate(); err != nil {
					return err
				}
				return s.Set("role", "admin")
			}

			// A Node write between the Go load and the save is kept.
			c := newClient(t)
			c.get(node.base, "/login?user=bob")
			old := c.cookie(node.base, p.cookie)
			h := hs.start(t, c, login)
			c.get(node.base, "/set?key=nodeKey&json=7")
			h.finish(t)
			if c.cookie(node.base, p.cookie) == old {
				t.Fatal("Regenerate issued no new cookie")
			}
			nodeView = c.session(node.base)
			sameView(t, "after a Node write during the Go login", nodeView, c.session(goBase))
			if nodeView["user"] != "bob" || nodeView["role"] != "admin" || norm(nodeView["nodeKey"]) != 7.0 {
				t.Errorf("after a Node write during the Go login: %v; want user, role and nodeKey", nodeView)
			}

			// A Node logout between the Go load and the save wins.
			d := newClient(t)
			d.get(node.base, "/login?user=carol")
			before := mongotest.CountDocuments(t, st, bson.D{})
			h = hs.start(t, d, login)
			d.get(node.base, "/logout")
			res := h.finish(t)
			for _, sc := range res.Header.Values("Set-Cookie") {
				if strings.HasPrefix(sc, p.cookie+"=") {
					t.Errorf("a login on a session logged out meanwhile issued %q", sc)
				}
			}
			if after := mongotest.CountDocuments(t, st, bson.D{}); after != before-1 {
				t.Errorf("%d documents before, %d after a Node logout during a Go login; want one fewer", before, after)
			}
			for side, base := range map[string]string{"Node": node.base, "Go": goBase} {
				if v := d.session(base); len(v) != 0 {
					t.Errorf("%s serves a session after the logout: %v", side, v)
				}
			}
			if s := node.stderr.String(); strings.Contains(s, "app error") || strings.Contains(s, "unhandled") {
				t.Fatalf("the Node app threw:\n%s", s)
			}
		})
	}
}

// TestDestroyEndsTheRequest: after Destroy, Set, Delete and Regenerate
// return ErrDestroyed and change nothing; a second Destroy is nil; the
// session is deleted and its cookie cleared. Destroy after Regenerate
// logs out too, storing nothing under a new id.
func TestDestroyEndsTheRequest(t *testing.T) {
	for _, regenerateFirst := range []bool{false, true} {
		st := goStore(t, mongotest.Collection(t))
		m, err := nodesession.New(nodesession.Options{Store: st, Cookie: nodesession.ExpressCookie{Secrets: []string{"s"}, MaxAge: time.Hour},
			Layout: nodesession.ConnectMongoDBSession{}})
		if err != nil {
			t.Fatal(err)
		}
		sid := "destroyedrequestdestroyedrequest"
		exp := time.Now().Add(time.Hour)
		if err := insertDoc(t, st, bson.D{{Key: "_id", Value: sid}, {Key: "expires", Value: exp}, {Key: "session", Value: bson.D{
			{Key: "cookie", Value: bson.D{{Key: "originalMaxAge", Value: int32(3600000)}, {Key: "expires", Value: exp}, {Key: "httpOnly", Value: true}, {Key: "path", Value: "/"}}},
			{Key: "user", Value: "alice"}}}}); err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Cookie", "connect.sid="+url.QueryEscape(expressSign("s", sid)))
		rec := httptest.NewRecorder()
		m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s := nodesession.FromContext(r.Context())
			if regenerateFirst {
				if err := s.Regenerate(); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Destroy(); err != nil {
				t.Fatal(err)
			}
			if err := s.Set("user", "mallory"); !errors.Is(err, nodesession.ErrDestroyed) {
				t.Errorf("Set after Destroy: %v, want ErrDestroyed", err)
			}
			if err := s.Delete("user"); !errors.Is(err, nodesession.ErrDestroyed) {
				t.Errorf("Delete after Destroy: %v, want ErrDestroyed", err)
			}
			if err := s.Regenerate(); !errors.Is(err, nodesession.ErrDestroyed) {
				t.Errorf("Regenerate after Destroy: %v, want ErrDestroyed", err)
			}
			if err := s.Destroy(); err != nil {
				t.Errorf("a second Destroy: %v", err)
			}
			if u, _ := s.String("user"); u != "alice" {
				t.Errorf("a refused Set changed the value to %q", u)
			}
			_, _ = w.Write([]byte("bye"))
			if err := s.Set("user", "x"); !errors.Is(err, nodesession.ErrSaved) {
				t.Errorf("Set after the save: %v, want ErrSaved", err)
			}
		})).ServeHTTP(rec, req)
		if n := mongotest.CountDocuments(t, st, bson.D{}); n != 0 {
			t.Errorf("regenerate first=%v: %d documents after the logout, want 0", regenerateFirst, n)
		}
		if sc := rec.Header().Get("Set-Cookie"); !strings.HasPrefix(sc, "connect.sid=;") || !strings.Contains(sc, "Expires=Thu, 01 Jan 1970") {
			t.Errorf("regenerate first=%v: Set-Cookie %q, want the cookie cleared", regenerateFirst, sc)
		}
	}
}

// TestRegenerateNewSession: on a session the request starts, Regenerate
// changes nothing: the session is stored under a fresh id as any new one,
// once; after the save it returns ErrSaved.
func TestRegenerateNewSession(t *testing.T) {
	st := goStore(t, mongotest.Collection(t))
	m, err := nodesession.New(nodesession.Options{Store: st, Cookie: nodesession.ExpressCookie{Secrets: []string{"s"}},
		Layout: nodesession.ConnectMongo{}})
	if err != nil {
		t.Fatal(err)
	}
	var s *nodesession.Session
	serve(t, m, "", func(sess *nodesession.Session) {
		s = sess
		if err := s.Regenerate(); err != nil {
			t.Fatal(err)
		}
		if err := s.Set("user", "alice"); err != nil {
			t.Fatal(err)
		}
	})
	if n := mongotest.CountDocuments(t, st, bson.D{}); n != 1 {
		t.Fatalf("%d documents, want the one new session", n)
	}
	if err := s.Regenerate(); !errors.Is(err, nodesession.ErrSaved) {
		t.Fatalf("Regenerate after the save: %v, want ErrSaved", err)
	}
}
