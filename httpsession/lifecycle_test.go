package httpsession_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/mongosession/mongosession/httpsession"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func TestIdleExpiry(t *testing.T) {
	e := newEnv(t, envConfig{configure: func(m *httpsession.Manager) {
		m.IdleTimeout = time.Second
		m.TouchAfter = 100 * time.Millisecond
	}})
	c := e.client(t)
	e.mustGet(t, c, "/put?k=a&v=1")
	// Read-only requests within the idle timeout keep it alive past it.
	for range 3 {
		time.Sleep(500 * time.Millisecond)
		if got := e.mustGet(t, c, "/get?k=a"); got != "1" {
			t.Fatalf("session ended while in use: %q", got)
		}
	}
	exp, _ := e.doc(t, e.token(c)).Lookup("expires").TimeOK()
	if d := time.Until(exp); d < 500*time.Millisecond || d > time.Second {
		t.Errorf("stored expiry %v from now, want about the idle timeout", d)
	}
	// Idle for longer than the timeout: gone, and never brought back.
	token := e.token(c)
	time.Sleep(1100 * time.Millisecond)
	if got := e.mustGet(t, c, "/get?k=a"); got != "" {
		t.Fatalf("idle session still readable: %q", got)
	}
	e.mustGet(t, e.withCookie(t, token), "/put?k=b&v=2")
	doc := e.doc(t, token)
	if doc != nil {
		exp, _ := doc.Lookup("expires").TimeOK()
		if exp.After(time.Now()) {
			t.Fatal("a request with the expired cookie revived the session")
		}
	}
}

func TestAbsoluteExpiry(t *testing.T) {
	const lifetime = 3 * time.Second
	e := newEnv(t, envConfig{configure: func(m *httpsession.Manager) {
		m.Lifetime = lifetime
		m.IdleTimeout = time.Hour
		m.TouchAfter = time.Millisecond
	}})
	c := e.client(t)
	created := time.Now()
	e.mustGet(t, c, "/put?k=a&v=1")
	deadline := created.Add(lifetime)
	exp, _ := e.doc(t, e.token(c)).Lookup("expires").TimeOK()
	if exp.After(deadline.Add(time.Second)) { // stored in milliseconds; a second of slack for clocks
		t.Errorf("stored expiry %v away, beyond the lifetime", time.Until(exp))
	}
	// Busy with changes, it still ends at its lifetime.
	for time.Since(created) < lifetime/2 {
		time.Sleep(300 * time.Millisecond)
		e.mustGet(t, c, "/put?k=a&v=1")
	}
	got := e.mustGet(t, c, "/get?k=a")
	// The answer proves the session alive only if the request ended before
	// the deadline; half the lifetime is left for that, even on a loaded
	// machine.
	if !time.Now().Before(deadline) {
		t.Fatalf("the request ended %v after the deadline: too slow to judge", time.Since(deadline))
	}
	if got != "1" {
		t.Fatalf("session ended before its lifetime: %q", got)
	}
	// The session's own deadline is its creation inside the first request
	// plus the lifetime, a little after deadline: wait for the stored one.
	time.Sleep(time.Until(exp) + 200*time.Millisecond)
	if got := e.mustGet(t, c, "/get?k=a"); got != "" {
		t.Fatalf("session outlived its absolute lifetime: %q", got)
	}
}

func TestRenewToken(t *testing.T) {
	e := newEnv(t, envConfig{})
	c := e.client(t)
	e.mustGet(t, c, "/put?k=cart&v=3")
	old := e.token(c)
	oldDoc := e.doc(t, old)
	_, _, res := e.get(t, c, "/login?user=alice")
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Error("renewed cookie without Cache-Control: no-store")
	}
	renewed := e.token(c)
	if renewed == old || !tokenRE.MatchString(renewed) {
		t.Fatalf("token not renewed: %q", renewed)
	}
	// The same document, for the session's whole life: only v changed.
	if old[:selectorLen] != renewed[:selectorLen] {
		t.Errorf("the selector changed: %q, %q", old[:selectorLen], renewed[:selectorLen])
	}
	v1, _ := oldDoc.Lookup("v").StringValueOK()
	v2, _ := e.doc(t, renewed).Lookup("v").StringValueOK()
	if v1 == "" || v1 == v2 {
		t.Errorf("stored verifier hash %q became %q", v1, v2)
	}
	if _, err := e.doc(t, renewed).LookupErr("pv"); err == nil {
		t.Error("a login (the user changed) kept the old token's hash as pv")
	}
	if got := e.mustGet(t, e.withCookie(t, old), "/get?k=cart"); got != "" {
		t.Errorf("old token still works: %q", got)
	}
	if got := e.mustGet(t, c, "/get?k=cart"); got != "3" {
		t.Errorf("renewed session lost its values: %q", got)
	}
	if got := e.mustGet(t, c, "/user"); got != "alice" {
		t.Errorf("user %q", got)
	}
	if n := e.live(t); n != 1 {
		t.Errorf("%d live documents, want 1", n)
	}
}

// TestRenewTokenCarriesConcurrentWrites: a request renews the token after
// another request of the session saved a key; the renewed session has that
// key, and this request's own changes on top.
func TestRenewTokenCarriesConcurrentWrites(t *testing.T) {
	e := newEnv(t, envConfig{})
	c := e.client(t)
	e.mustGet(t, c, "/put?k=csrf&v=t")
	old := e.token(c)
	loaded, resume, done := pausing(t, e, func(r *http.Request) error {
		e.m.Put(r.Context(), "own", "1")
		e.m.Remove(r.Context(), "csrf")
		e.m.SetUser(r.Context(), "alice")
		return e.m.RenewToken(r.Context())
	})
	answered := make(chan struct{})
	go func() { e.try(c, "/pause"); close(answered) }()
	<-loaded
	// Saved after the renewing request loaded the session, before it renews.
	e.mustGet(t, e.withCookie(t, old), "/put?k=cart&v=book")
	close(resume)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	<-answered
	if e.token(c) == old {
		t.Fatal("token not renewed")
	}
	if got := e.mustGet(t, c, "/keys"); got != "cart\nown" {
		t.Errorf("renewed session has keys %q, want cart and own (csrf removed by the renewing request)", got)
	}
	if got := e.mustGet(t, c, "/user"); got != "alice" {
		t.Errorf("user %q", got)
	}
}

// TestRenewTokenOfIdledOutSession: a session that idled out while a request
// ran is not brought back by that request's RenewToken.
func TestRenewTokenOfIdledOutSession(t *testing.T) {
	e := newEnv(t, envConfig{configure: func(m *httpsession.Manager) {
		m.IdleTimeout = time.Second
		m.TouchAfter = time.Hour
	}})
	c := e.client(t)
	e.mustGet(t, c, "/login?user=alice")
	old := e.token(c)
	loaded, resume, done := pausing(t, e, func(r *http.Request) error {
		return e.m.RenewToken(r.Context())
	})
	answered := make(chan struct{})
	go func() { e.try(c, "/pause"); close(answered) }()
	<-loaded
	time.Sleep(1200 * time.Millisecond) // the session idles out
	close(resume)
	if err := <-done; err != nil && !errors.Is(err, httpsession.ErrSessionEnded) {
		t.Errorf("RenewToken of an idled-out session: %v, want nil (written with the save) or ErrSessionEnded", err)
	}
	<-answered
	if n := e.live(t); n != 0 {
		t.Fatalf("%d live documents after renewing an idled-out session, want 0", n)
	}
	for _, tok := range []string{old, e.token(c)} {
		if got := e.mustGet(t, e.withCookie(t, tok), "/user"); got != "" {
			t.Fatalf("the idled-out session is logged in as %q", got)
		}
	}
}

// TestRenewTokenKeepsUserAgent: Info.UserAgent stays the creating
// request's.
func TestRenewTokenKeepsUserAgent(t *testing.T) {
	e := newEnv(t, envConfig{})
	ua := func(c *http.Client, agent, path string) {
		req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
		req.Header.Set("User-Agent", agent)
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	c := e.client(t)
	ua(c, "first-browser", "/put?k=a&v=1")
	ua(c, "second-browser", "/login?user=alice")
	if got, _ := e.doc(t, e.token(c)).Lookup("ua").StringValueOK(); got != "first-browser" {
		t.Errorf("renewed session's User-Agent %q, want the creating request's", got)
	}
}

// devices adds the "your devices" endpoints to e's server.
func devicesServer(t *testing.T, e *env) {
	mux := http.NewServeMux()
	mux.Handle("/", e.handler(t))
	mux.HandleFunc("/sessions", func(w http.ResponseWriter, r *http.Request) {
		list, err := e.m.Sessions(r.Context(), e.m.User(r.Context()))
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		json.NewEncoder(w).Encode(list)
	})
	mux.HandleFunc("/revoke", func(w http.ResponseWriter, r *http.Request) {
		if err := e.m.RevokeSession(r.Context(), e.m.User(r.Context()), r.FormValue("id")); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		io.WriteString(w, "ok")
	})
	e.srv.Config.Handler = e.m.LoadAndSave(mux)
}

func sessionsOf(t *testing.T, e *env, c *http.Client) []httpsession.Info {
	t.Helper()
	var list []httpsession.Info
	if err := json.Unmarshal([]byte(e.mustGet(t, c, "/sessions")), &list); err != nil {
		t.Fatal(err)
	}
	return list
}

func TestRevokeUser(t *testing.T) {
	e := newEnv(t, envConfig{})
	var alice []*http.Client
	for range 3 {
		c := e.client(t)
		e.mustGet(t, c, "/login?user=alice")
		alice = append(alice, c)
	}
	bob := e.client(t)
	e.mustGet(t, bob, "/login?user=bob")
	n, err := e.m.RevokeUser(context.Background(), "alice")
	if err != nil || n != 3 {
		t.Fatalf("RevokeUser = %d, %v; want 3", n, err)
	}
	for _, c := range alice {
		if got := e.mustGet(t, c, "/user"); got != "" {
			t.Errorf("revoked session still logged in as %q", got)
		}
	}
	if got := e.mustGet(t, bob, "/user"); got != "bob" {
		t.Errorf("another user's session was revoked: %q", got)
	}
	if n, _ := e.m.RevokeUser(context.Background(), ""); n != 0 {
		t.Errorf("RevokeUser(\"\") deleted %d", n)
	}
}

// TestUserIndex: New creates the index on "user" that RevokeUser and
// Sessions use, sparse (anonymous sessions are not indexed) on servers
// that build sparse indexes, and New on the same collection again keeps it.
func TestUserIndex(t *testing.T) {
	e := newEnv(t, envConfig{})
	ctx := context.Background()
	// sparseIndex finds the index on field and reports whether it is sparse.
	sparseIndex := func(field string) bool {
		t.Helper()
		specs, err := e.coll.Indexes().ListSpecifications(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, spec := range specs {
			if keys, _ := spec.KeysDocument.Elements(); len(keys) == 1 && keys[0].Key() == field {
				return spec.Sparse != nil && *spec.Sparse
			}
		}
		t.Fatalf("no index on %s among %v", field, specs)
		return false
	}
	sparse := sparseIndex("user")
	// Does the server build sparse indexes (FerretDB 1.x accepts the option
	// and ignores it)? Try one on a scratch field.
	probe := mongo.IndexModel{Keys: bson.D{{Key: "sparse_probe", Value: 1}}, Options: options.Index().SetSparse(true)}
	if _, err := e.coll.Indexes().CreateOne(ctx, probe); err == nil {
		if canSparse := sparseIndex("sparse_probe"); canSparse != sparse {
			t.Errorf("user index sparse = %v, but the server builds sparse indexes: %v", sparse, canSparse)
		}
	} else if sparse {
		t.Errorf("user index sparse, but the server refuses sparse indexes: %v", err)
	}
	httpsession.New(e.store) // an instance starting on the same collection
	if again := sparseIndex("user"); again != sparse {
		t.Errorf("a second New changed the user index (sparse %v -> %v)", sparse, again)
	}
}

func TestSessionsAndRevokeSession(t *testing.T) {
	e := newEnv(t, envConfig{})
	devicesServer(t, e)
	laptop, phone, bob := e.client(t), e.client(t), e.client(t)
	e.mustGet(t, laptop, "/login?user=alice")
	e.mustGet(t, phone, "/login?user=alice")
	e.mustGet(t, bob, "/login?user=bob")

	list := sessionsOf(t, e, laptop)
	if len(list) != 2 {
		t.Fatalf("alice has %d sessions listed, want 2: %+v", len(list), list)
	}
	var current, other httpsession.Info
	for _, s := range list {
		if s.Current {
			current = s
		} else {
			other = s
		}
		if s.Created.IsZero() || s.LastSeen.IsZero() || s.UserAgent == "" {
			t.Errorf("incomplete info %+v", s)
		}
	}
	if current.ID == "" || other.ID == "" {
		t.Fatalf("want one current and one other session: %+v", list)
	}
	// The handle is not a token.
	if got := e.mustGet(t, e.withCookie(t, other.ID), "/user"); got != "" {
		t.Fatalf("Info.ID works as a cookie")
	}
	// Alice cannot end Bob's session.
	bobs := sessionsOf(t, e, bob)
	if len(bobs) != 1 {
		t.Fatalf("bob's sessions %+v", bobs)
	}
	e.mustGet(t, laptop, "/revoke?id="+bobs[0].ID)
	if got := e.mustGet(t, bob, "/user"); got != "bob" {
		t.Fatalf("alice ended bob's session")
	}
	// Alice ends her phone's session from her laptop.
	e.mustGet(t, laptop, "/revoke?id="+other.ID)
	if got := e.mustGet(t, phone, "/user"); got != "" {
		t.Fatalf("revoked phone session still logged in as %q", got)
	}
	if got := e.mustGet(t, laptop, "/user"); got != "alice" {
		t.Fatalf("laptop session lost: %q", got)
	}
	if list := sessionsOf(t, e, laptop); len(list) != 1 || !list[0].Current {
		t.Fatalf("after revoking, alice has %+v", list)
	}
	n, err := e.coll.CountDocuments(context.Background(), bson.D{{Key: "user", Value: "alice"}})
	if err != nil || n != 1 {
		t.Fatalf("%d stored sessions of alice, %v", n, err)
	}
}

// TestRevokeSessionOfRenewedSession: a session listed on the devices page
// renews its token before the user ends it there; the renewed session ends.
func TestRevokeSessionOfRenewedSession(t *testing.T) {
	e := newEnv(t, envConfig{})
	devicesServer(t, e)
	laptop, phone := e.client(t), e.client(t)
	e.mustGet(t, laptop, "/login?user=alice")
	e.mustGet(t, phone, "/login?user=alice")
	var phoneID string
	for _, s := range sessionsOf(t, e, laptop) {
		if !s.Current {
			phoneID = s.ID
		}
	}
	if phoneID == "" {
		t.Fatal("the phone's session is not listed")
	}
	e.mustGet(t, phone, "/login?user=alice") // the phone renews its token
	e.mustGet(t, laptop, "/revoke?id="+phoneID)
	if got := e.mustGet(t, phone, "/user"); got != "" {
		t.Fatalf("the renewed phone session survived its revocation, logged in as %q", got)
	}
	if got := e.mustGet(t, laptop, "/user"); got != "alice" {
		t.Fatalf("laptop session lost: %q", got)
	}
}

// TestRevokeUserCountsSessions: two logins in one session are one
// document; RevokeUser counts one session.
func TestRevokeUserCountsSessions(t *testing.T) {
	e := newEnv(t, envConfig{})
	c := e.client(t)
	e.mustGet(t, c, "/login?user=alice")
	e.mustGet(t, c, "/login?user=alice") // renews the stored session
	n, err := e.m.RevokeUser(context.Background(), "alice")
	if err != nil || n != 1 {
		t.Fatalf("RevokeUser = %d, %v; want 1", n, err)
	}
	if got := e.mustGet(t, c, "/user"); got != "" {
		t.Fatalf("revoked session still logged in as %q", got)
	}
}
