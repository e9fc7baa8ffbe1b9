package httpsession_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/mongosession/mongosession"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Regression tests for how a renewal's tombstone is followed and when it
// stops being followed.

// TestLogoutWithRenewedCookie: a logout sent with the token of a session
// that another tab renewed a moment ago (its response not applied yet) ends
// the renewed session too.
func TestLogoutWithRenewedCookie(t *testing.T) {
	e := newEnv(t, envConfig{})
	c := e.client(t)
	e.mustGet(t, c, "/login?user=alice")
	old := e.token(c)
	tab1 := e.withCookie(t, old)
	e.mustGet(t, tab1, "/login?user=alice")
	renewed := e.token(tab1)
	if renewed == old {
		t.Fatal("token not renewed")
	}
	_, body, res := e.get(t, e.withCookie(t, old), "/destroy")
	if body != "ok" {
		t.Fatalf("logout: %q", body)
	}
	if sc := res.Header.Get("Set-Cookie"); sc == "" {
		t.Error("the logout did not clear the old cookie")
	}
	if got := e.mustGet(t, e.withCookie(t, renewed), "/user"); got != "" {
		t.Errorf("after the logout the renewed token is still logged in as %q", got)
	}
	if n := e.live(t); n != 0 {
		t.Errorf("%d live sessions after the logout, want 0", n)
	}
	if e.doc(t, old) != nil {
		t.Error("the tombstone the logout followed is still there")
	}
}

// backdateRenewal moves the fence time of token's tombstone d into the past,
// as if the renewal had happened that long ago.
func backdateRenewal(t *testing.T, e *env, token string, d time.Duration) {
	t.Helper()
	res, err := e.coll.UpdateOne(context.Background(),
		bson.D{{Key: "_id", Value: mongosession.HashID(token)}, {Key: "next", Value: bson.D{{Key: "$exists", Value: true}}}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "renewed", Value: time.Now().Add(-d)}}}})
	if err != nil || res.MatchedCount != 1 {
		t.Fatalf("backdating the tombstone: %v, matched %v", err, res)
	}
}

// TestStuckOnTombstone: a browser whose renewal's response never arrived
// (an aborted form, a dropped connection) still holds the old token. Once
// the renewal's grace is over, that token is an unknown cookie: the browser
// can log in and store values again, instead of being locked out for the
// tombstone's ten minutes.
func TestStuckOnTombstone(t *testing.T) {
	e := newEnv(t, envConfig{})
	c := e.client(t)
	e.mustGet(t, c, "/put?k=csrf&v=t")
	old := e.token(c)
	e.mustGet(t, e.withCookie(t, old), "/login?user=alice") // the response is lost for c

	// Within the grace, the old token is a request racing the renewal.
	_, body, res := e.get(t, c, "/put?k=x&v=1")
	if body != "ok" || res.Header.Get("Set-Cookie") != "" {
		t.Errorf("within the grace: %q, Set-Cookie %q; want the cookie left alone", body, res.Header.Get("Set-Cookie"))
	}

	backdateRenewal(t, e, old, time.Minute)
	if got := e.mustGet(t, c, "/get?k=csrf"); got != "" {
		t.Errorf("the old token reads the session after the grace: %q", got)
	}
	if e.token(c) != "" {
		t.Error("after the grace, a read-only request kept the stale cookie")
	}
	e.mustGet(t, c, "/put?k=csrf2&v=x")
	e.mustGet(t, c, "/login?user=alice")
	if got := e.mustGet(t, c, "/user"); got != "alice" {
		t.Errorf("the browser cannot log in again (user %q)", got)
	}
	if got := e.mustGet(t, c, "/get?k=csrf2"); got != "x" {
		t.Errorf("a Put after the grace was dropped: %q", got)
	}
	if e.doc(t, old) == nil {
		t.Error("the tombstone is gone: a logout with the old token could no longer follow it")
	}
}

// TestStaleTombstoneLogoutEndsSuccessor: a logout with the old token after
// the grace still follows the tombstone and ends the orphaned successor.
func TestStaleTombstoneLogoutEndsSuccessor(t *testing.T) {
	e := newEnv(t, envConfig{})
	c := e.client(t)
	e.mustGet(t, c, "/put?k=a&v=1")
	old := e.token(c)
	tab := e.withCookie(t, old)
	e.mustGet(t, tab, "/login?user=alice")
	backdateRenewal(t, e, old, time.Minute)
	e.mustGet(t, c, "/destroy")
	if got := e.mustGet(t, tab, "/user"); got != "" {
		t.Errorf("the successor is still logged in as %q", got)
	}
	if n := e.live(t); n != 0 {
		t.Errorf("%d live sessions, want 0", n)
	}
}

// TestRevokeSessionCrossUser: alice ends her old session on a kiosk from
// her laptop's "your devices" page, after bob logged in on the kiosk (a
// renewal that switched users): bob's session is not hers to end.
func TestRevokeSessionCrossUser(t *testing.T) {
	e := newEnv(t, envConfig{})
	devicesServer(t, e)
	kiosk, laptop := e.client(t), e.client(t)
	e.mustGet(t, kiosk, "/login?user=alice")
	e.mustGet(t, laptop, "/login?user=alice")
	var kioskID string
	for _, s := range sessionsOf(t, e, laptop) {
		if !s.Current {
			kioskID = s.ID
		}
	}
	if kioskID == "" {
		t.Fatal("the kiosk's session is not listed")
	}
	e.mustGet(t, kiosk, "/login?user=bob")
	if got := e.mustGet(t, kiosk, "/user"); got != "bob" {
		t.Fatalf("kiosk user %q, want bob", got)
	}
	e.mustGet(t, laptop, "/revoke?id="+kioskID)
	if got := e.mustGet(t, kiosk, "/user"); got != "bob" {
		t.Errorf("alice's RevokeSession ended bob's session (kiosk user now %q)", got)
	}
	if got := e.mustGet(t, laptop, "/user"); got != "alice" {
		t.Errorf("laptop user %q, want alice", got)
	}
}

// TestPutLostToRenewal: a request's Put saved after another request's
// renewal (keeping the user) fenced the session lands in the renewed
// session, without a cookie of its own; with encryption the value is
// sealed for the successor.
func TestPutLostToRenewal(t *testing.T) {
	for name, keys := range map[string][][]byte{"plain": nil, "encrypted": {encryptionKey(7)}} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, envConfig{keys: keys})
			c := e.client(t)
			e.mustGet(t, c, "/put?k=a&v=1")
			e.mustGet(t, c, "/login?user=alice")
			old := e.token(c)
			loaded, resume, done := pausing(t, e, func(r *http.Request) error {
				e.m.Put(r.Context(), "cart", "book")
				return nil
			})
			answered := make(chan struct{})
			var code int
			var setCookie string
			go func() {
				defer close(answered)
				res, err := e.withCookie(t, old).Get(e.srv.URL + "/pause")
				if err == nil {
					code, setCookie = res.StatusCode, res.Header.Get("Set-Cookie")
					res.Body.Close()
				}
			}()
			<-loaded
			e.mustGet(t, c, "/login?user=alice")
			e.rec.Reset()
			close(resume)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			<-answered
			if code != http.StatusOK || setCookie != "" {
				t.Errorf("the racing request: %d, Set-Cookie %q; want 200 and no cookie", code, setCookie)
			}
			// The update that missed, the find of the tombstone, the update
			// of the successor.
			if got := names(e.rec.Take()); got != "update,find,update" {
				t.Errorf("commands of the racing save: %s", got)
			}
			if got := e.mustGet(t, c, "/get?k=cart"); got != "book" {
				t.Errorf("the racing request's Put is lost: cart=%q", got)
			}
			if got := e.mustGet(t, c, "/get?k=a"); got != "1" {
				t.Errorf("a=%q, want 1", got)
			}
		})
	}
}

// TestPutAfterEndIsDropped: a save that misses because the session was
// destroyed is not redirected anywhere: the session stays ended, the
// value is stored nowhere, and the request sets no cookie.
func TestPutAfterEndIsDropped(t *testing.T) {
	e := newEnv(t, envConfig{})
	c := e.client(t)
	e.mustGet(t, c, "/login?user=alice")
	old := e.token(c)
	tab := e.withCookie(t, old)
	e.mustGet(t, tab, "/login?user=alice")
	renewed := e.token(tab)
	loaded, resume, done := pausing(t, e, func(r *http.Request) error {
		e.m.Put(r.Context(), "cart", "book")
		return nil
	})
	answered := make(chan struct{})
	var code int
	var setCookie string
	go func() {
		defer close(answered)
		if res, err := e.withCookie(t, renewed).Get(e.srv.URL + "/pause"); err == nil {
			code, setCookie = res.StatusCode, res.Header.Get("Set-Cookie")
			res.Body.Close()
		}
	}()
	<-loaded
	e.mustGet(t, e.withCookie(t, old), "/destroy") // ends the tombstone's successor
	close(resume)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	<-answered
	if code != http.StatusOK || setCookie != "" {
		t.Errorf("the request whose session ended: %d, Set-Cookie %q; want 200 and no cookie", code, setCookie)
	}
	if n := e.live(t); n != 0 {
		t.Errorf("%d live sessions after the logout, want 0", n)
	}
	if n := e.stored(t, "cart"); n != 0 {
		t.Errorf("the dropped Put is stored in %d document(s)", n)
	}
	if n := e.count(t); n != 1 {
		t.Errorf("%d documents, want 1 (the successor's stub)", n)
	}
}

// TestIncrRacingRenewal: Incr in a request that loaded the session before
// another request renewed it (keeping the user) counts on the successor,
// on plain and on encrypted stores (where it compares and swaps the value
// sealed for the successor).
func TestIncrRacingRenewal(t *testing.T) {
	for name, keys := range map[string][][]byte{"plain": nil, "encrypted": {encryptionKey(7)}} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, envConfig{keys: keys})
			c := e.client(t)
			e.mustGet(t, c, "/incr?k=n")
			e.mustGet(t, c, "/login?user=alice")
			old := e.token(c)
			var got int64
			loaded, resume, done := pausing(t, e, func(r *http.Request) error {
				var err error
				got, err = e.m.Incr(r.Context(), "n", 1)
				return err
			})
			answered := make(chan struct{})
			go func() { _, _, _ = e.try(e.withCookie(t, old), "/pause"); close(answered) }()
			<-loaded
			e.mustGet(t, c, "/login?user=alice")
			close(resume)
			if err := <-done; err != nil {
				t.Fatalf("Incr racing a renewal: %v", err)
			}
			<-answered
			if got != 2 {
				t.Errorf("Incr returned %d, want 2", got)
			}
			if n := e.mustGet(t, c, "/incr?k=n"); n != "3" {
				t.Errorf("the counter after the race: %s, want 3", n)
			}
		})
	}
}

// TestDestroyLongRenewalChain: a logout that meets more renewals than it
// follows in one go reports it (500 here) instead of stopping silently,
// and leaves the tombstone pointing where it stopped, so that a retry ends
// the rest.
func TestDestroyLongRenewalChain(t *testing.T) {
	e := newEnv(t, envConfig{})
	c := e.client(t)
	e.mustGet(t, c, "/put?k=a&v=1")
	old := e.token(c)
	// old's document becomes the first tombstone of a chain of 20.
	ctx := context.Background()
	now := time.Now()
	id := mongosession.HashID(old)
	for i := 1; i <= 20; i++ {
		next := fmt.Sprintf("successor-%d", i)
		tomb := bson.D{{Key: "_id", Value: id}, {Key: "expires", Value: now.Add(10 * time.Minute)}, {Key: "next", Value: next}, {Key: "renewed", Value: now}}
		if _, err := e.coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: id}}, tomb, options.Replace().SetUpsert(true)); err != nil {
			t.Fatal(err)
		}
		id = next
	}
	last := bson.D{{Key: "_id", Value: id}, {Key: "expires", Value: now.Add(time.Hour)}, {Key: "created", Value: now}, {Key: "session", Value: bson.D{}}}
	if _, err := e.coll.InsertOne(ctx, last); err != nil {
		t.Fatal(err)
	}
	if code, body, _ := e.get(t, e.withCookie(t, old), "/destroy"); code != http.StatusInternalServerError {
		t.Fatalf("the first logout: %d %q, want an error", code, body)
	}
	if tomb := e.doc(t, old); tomb == nil {
		t.Fatal("the tombstone was not put back")
	} else if next, _ := tomb.Lookup("next").StringValueOK(); next != "successor-17" {
		t.Errorf("the tombstone put back points at %q, want successor-17", next)
	}
	e.mustGet(t, e.withCookie(t, old), "/destroy")
	if n := e.live(t); n != 0 {
		t.Errorf("%d live sessions after the retried logout, want 0", n)
	}
}
