package mongosession_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/securitytest"
)

// Ended stays ended: Delete leaves a marker in place of the session, which
// no later Commit writes over, and which every read treats as absent.

func TestDeleteLeavesEndedMarker(t *testing.T) {
	s, log := newMonitoredStore(t, mongosession.Options{AutoRemove: mongosession.AutoRemoveOff})
	must(t, s.CommitCtx(ctx, "tokEnd", []byte("logged in"), hour()))
	log.Reset()
	before := time.Now()
	must(t, s.DeleteCtx(ctx, "tokEnd"))
	if got := joined(log.Names()); got != "update" {
		t.Fatalf("Delete sent [%s]; want one update", got)
	}

	raw := rawCollection(t, s)
	var doc bson.Raw
	must(t, raw.FindOne(ctx, bson.D{{Key: "_id", Value: mongosession.HashID("tokEnd")}}).Decode(&doc))
	if _, err := doc.LookupErr("session"); err == nil {
		t.Fatalf("the ended marker still holds the session data: %s", doc)
	}
	if _, ok := doc.Lookup("ended").DateTimeOK(); !ok {
		t.Fatalf("the ended marker has no ended date: %s", doc)
	}
	// The marker lasts EndedFor (default 1 hour) from the Delete, less than
	// the session's own 1 hour left.
	exp := doc.Lookup("expires").Time()
	if lo, hi := before.Add(mongosession.DefaultEndedFor-time.Second), time.Now().Add(mongosession.DefaultEndedFor); exp.Before(lo) || exp.After(hi) {
		t.Fatalf("marker expires %v; want about an hour from the Delete", exp)
	}

	if _, found, err := s.FindCtx(ctx, "tokEnd"); err != nil || found {
		t.Fatalf("Find(ended) = %v, %v; want not found", found, err)
	}
	if ok, err := s.Touch(ctx, "tokEnd", hour()); err != nil || ok {
		t.Fatalf("Touch(ended) = %v, %v; want false", ok, err)
	}
	if n, err := s.Count(ctx); err != nil || n != 0 {
		t.Fatalf("Count = %d, %v; want 0 (markers are not sessions)", n, err)
	}
	for rec, err := range s.Iter(ctx) {
		t.Fatalf("Iter yielded %q, %v; want nothing", rec.ID, err)
	}

	// A request still in flight commits after the logout: nothing is
	// written, and the request does not fail.
	log.Reset()
	if err := s.CommitCtx(ctx, "tokEnd", []byte("late write"), hour()); err != nil {
		t.Fatalf("late Commit = %v; want nil", err)
	}
	var after bson.Raw
	must(t, raw.FindOne(ctx, bson.D{{Key: "_id", Value: mongosession.HashID("tokEnd")}}).Decode(&after))
	if string(after) != string(doc) {
		t.Fatalf("a late Commit changed the ended marker: %s, then %s", doc, after)
	}
	// Its cost: the upsert that the marker refuses, and the update that
	// tells a racing upsert from an ended session.
	if got := joined(log.Names()); got != "update,update" {
		t.Fatalf("late Commit sent [%s]; want update,update", got)
	}
}

func TestEndedMarkerNeverOutlivesTheSession(t *testing.T) {
	s := newStore(t, mongosession.Options{AutoRemove: mongosession.AutoRemoveOff})
	soon := time.Now().Add(10 * time.Minute).Truncate(time.Millisecond)
	must(t, s.CommitCtx(ctx, "tokSoon", []byte("x"), soon))
	must(t, s.DeleteCtx(ctx, "tokSoon"))
	var doc bson.Raw
	must(t, rawCollection(t, s).FindOne(ctx, bson.D{{Key: "_id", Value: mongosession.HashID("tokSoon")}}).Decode(&doc))
	if exp := doc.Lookup("expires").Time(); !exp.Equal(soon) {
		t.Fatalf("marker expires %v; want the session's own %v (the earlier)", exp, soon)
	}

	// Deleting what was never stored leaves nothing behind.
	must(t, s.DeleteCtx(ctx, "tokNever"))
	if n, _ := rawCollection(t, s).CountDocuments(ctx, bson.D{{Key: "_id", Value: mongosession.HashID("tokNever")}}); n != 0 {
		t.Fatalf("Delete of a missing session created %d documents", n)
	}
}

// TestEndedMarkerSurvivesReaperUntilItsTime: the reaper removes expired
// documents around the marker but leaves the marker, which keeps fencing
// its token, until EndedFor has passed; then the marker goes too.
func TestEndedMarkerSurvivesReaperUntilItsTime(t *testing.T) {
	const endedFor = 3 * time.Second
	s := newStore(t, mongosession.Options{AutoRemove: mongosession.AutoRemoveInterval, CleanupInterval: 100 * time.Millisecond, EndedFor: endedFor})
	raw := rawCollection(t, s)
	must(t, s.CommitCtx(ctx, "tokReap", []byte("x"), hour()))
	deleted := time.Now()
	must(t, s.DeleteCtx(ctx, "tokReap"))
	// A witness the reaper removes on its first pass.
	must(t, s.CommitCtx(ctx, "tokWitness", []byte("x"), time.Now().Add(-time.Minute)))
	present := func(token string) bool {
		n, err := raw.CountDocuments(ctx, bson.D{{Key: "_id", Value: mongosession.HashID(token)}})
		must(t, err)
		return n == 1
	}
	for present("tokWitness") {
		if time.Since(deleted) > endedFor/2 {
			t.Skipf("the reaper did not run within %v (a loaded machine): the marker's survival cannot be judged", endedFor/2)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !present("tokReap") {
		t.Fatal("the reaper removed the ended marker before its time")
	}
	must(t, s.CommitCtx(ctx, "tokReap", []byte("late write"), hour()))
	if _, found, _ := s.FindCtx(ctx, "tokReap"); found && time.Since(deleted) < endedFor {
		t.Fatal("a late Commit brought the session back while its marker lasted")
	}
	if n, err := s.Count(ctx); err != nil || n != 0 {
		t.Fatalf("Count = %d, %v; want 0", n, err)
	}
	for deadline := time.Now().Add(endedFor + time.Minute); present("tokReap"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the reaper never removed the expired marker")
		}
	}
	if time.Since(deleted) < endedFor {
		t.Fatalf("the marker went after %v; want at least EndedFor (%v)", time.Since(deleted), endedFor)
	}
}

// TestSCSLogoutSticksAgainstSlowRequest is the attack: log in, start a slow
// request with the cookie (a stolen cookie, a slow upload), log out, let
// the slow request finish. The cookie is then a new visitor's, and the
// collection holds no live session for it.
func TestSCSLogoutSticksAgainstSlowRequest(t *testing.T) {
	s := newStore(t, mongosession.Options{})
	sm := scs.New()
	sm.Store = s
	entered, release := make(chan struct{}), make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		must(t, sm.RenewToken(r.Context()))
		sm.Put(r.Context(), "user", "alice")
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		_ = sm.GetString(r.Context(), "user") // loads the session
		close(entered)
		<-release
		sm.Put(r.Context(), "upload", "done") // modified: scs commits
	})
	mux.HandleFunc("/logout", func(w http.ResponseWriter, r *http.Request) {
		must(t, sm.Destroy(r.Context()))
	})
	mux.HandleFunc("/whoami", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, sm.GetString(r.Context(), "user"))
	})
	srv := httptest.NewServer(sm.LoadAndSave(mux))
	t.Cleanup(srv.Close)

	victim := newBrowser(t, srv.URL)
	victim.get("/login")
	token := victim.token()
	if token == "" {
		t.Fatal("no session cookie after login")
	}
	if got := victim.get("/whoami"); got != "alice" {
		t.Fatalf("after login: %q", got)
	}

	// The thief's slow request, with a copy of the cookie.
	finish := securitytest.HoldOpen(t, entered, func() (*http.Response, error) {
		req, _ := http.NewRequest("GET", srv.URL+"/slow", nil)
		req.AddCookie(&http.Cookie{Name: "session", Value: token})
		return http.DefaultClient.Do(req)
	})
	victim.get("/logout")
	close(release)
	if got := finish(); got != "200 " {
		t.Fatalf("the slow request answered %q; want 200 (its commit writes nothing and does not fail it)", got)
	}

	thief := newBrowser(t, srv.URL)
	u, _ := url.Parse(srv.URL)
	thief.client.Jar.SetCookies(u, []*http.Cookie{{Name: "session", Value: token}})
	if got := thief.get("/whoami"); got != "" {
		t.Fatalf("the stolen cookie is still user %q after the logout", got)
	}
	raw := rawCollection(t, s)
	n, err := raw.CountDocuments(ctx, bson.D{{Key: "_id", Value: mongosession.HashID(token)}, {Key: "session", Value: bson.D{{Key: "$exists", Value: true}}}})
	must(t, err)
	if n != 0 {
		t.Fatal("the collection holds a live session for the logged-out cookie")
	}
}

// TestSCSIterateDestroyWithHashedIDs: scs's documented way to end a user's
// sessions (Iterate, then Destroy those that match) works with the default
// hashed IDs, and ends exactly those.
func TestSCSIterateDestroyWithHashedIDs(t *testing.T) {
	s := newStore(t, mongosession.Options{})
	sm := scs.New()
	sm.Store = s
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		sm.Put(r.Context(), "user", r.URL.Query().Get("u"))
	})
	mux.HandleFunc("/whoami", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, sm.GetString(r.Context(), "user"))
	})
	srv := httptest.NewServer(sm.LoadAndSave(mux))
	t.Cleanup(srv.Close)
	alice1, alice2, bob := newBrowser(t, srv.URL), newBrowser(t, srv.URL), newBrowser(t, srv.URL)
	alice1.get("/login?u=alice")
	alice2.get("/login?u=alice")
	bob.get("/login?u=bob")

	ended := 0
	must(t, sm.Iterate(ctx, func(ctx context.Context) error {
		if sm.GetString(ctx, "user") != "alice" {
			return nil
		}
		ended++
		return sm.Destroy(ctx)
	}))
	if ended != 2 {
		t.Fatalf("Iterate saw %d of alice's sessions; want 2", ended)
	}
	for i, b := range []*browser{alice1, alice2} {
		if got := b.get("/whoami"); got != "" {
			t.Fatalf("alice's session %d survived Destroy inside Iterate: %q", i, got)
		}
	}
	if got := bob.get("/whoami"); got != "bob" {
		t.Fatalf("bob's session = %q; want untouched", got)
	}
}
