package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/httpsession"
	"github.com/mongosession/mongosession/internal/mongotest"
)

// app is a live httpsession application on its own collection: POST
// /login?user=U logs the browser in, GET /whoami answers the session's
// user ("" for an anonymous session).
type app struct {
	m     *httpsession.Manager
	store *mongosession.Store
	srv   *httptest.Server
	flags []string // the admin command's flags naming the collection
}

func newApp(t *testing.T) *app {
	t.Helper()
	coll := mongotest.Collection(t)
	s := mongotest.NewStore(t, mongosession.Options{Collection: coll, AutoRemove: mongosession.AutoRemoveOff})
	m := httpsession.New(s)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		m.SetUser(r.Context(), r.URL.Query().Get("user"))
		if err := m.RenewToken(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		m.Put(r.Context(), "csrf", "secret-csrf-value")
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("GET /whoami", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, m.User(r.Context()))
	})
	srv := httptest.NewServer(m.LoadAndSave(mux))
	t.Cleanup(srv.Close)
	return &app{m: m, store: s, srv: srv, flags: []string{"-db", mongotest.Database, "-collection", coll}}
}

// browser is one browser (one cookie jar) logged in as user, with the
// given User-Agent. It returns the client and its cookie's value.
func (a *app) browser(t *testing.T, user, agent string) (*http.Client, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	req, _ := http.NewRequest("POST", a.srv.URL+"/login?user="+url.QueryEscape(user), nil)
	req.Header.Set("User-Agent", agent)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("login of %s: %s", user, res.Status)
	}
	if got := whoami(t, a, c); got != user {
		t.Fatalf("after logging in as %s, whoami = %q", user, got)
	}
	u, _ := url.Parse(a.srv.URL)
	cookies := jar.Cookies(u)
	if len(cookies) != 1 {
		t.Fatalf("cookies after login: %v", cookies)
	}
	return c, cookies[0].Value
}

func whoami(t *testing.T, a *app, c *http.Client) string {
	t.Helper()
	res, err := c.Get(a.srv.URL + "/whoami")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

// secrets fails the test when out holds a cookie or a session value.
func secrets(t *testing.T, what, out string, cookies ...string) {
	t.Helper()
	for _, c := range append(cookies, "secret-csrf-value") {
		if c != "" && strings.Contains(out, c) {
			t.Errorf("%s printed a secret (%q):\n%s", what, c, out)
		}
	}
}

func TestAdminRevokeUser(t *testing.T) {
	a := newApp(t)
	env := map[string]string{"MONGODB_URI": mongotest.URI(t)}
	alice1, c1 := a.browser(t, "alice", "Firefox/1")
	alice2, c2 := a.browser(t, "alice", "Safari/2")
	bob, c3 := a.browser(t, "bob", "Chrome/3")
	cookies := []string{c1, c2, c3}

	// sessions -json lists exactly what the application's Manager lists.
	code, out, errs := admin(t, env, append(a.flags, "sessions", "-user", "alice", "-json")...)
	secrets(t, "sessions -json", out+errs, cookies...)
	if code != 0 {
		t.Fatalf("sessions -json = %d %q %q", code, out, errs)
	}
	var listed sessionsResult
	if err := json.Unmarshal([]byte(out), &listed); err != nil {
		t.Fatalf("sessions -json is not one JSON document: %v\n%s", err, out)
	}
	want, err := a.m.Sessions(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if listed.User != "alice" || len(listed.Sessions) != 2 || len(want) != 2 {
		t.Fatalf("sessions -json = %+v; the manager lists %+v", listed, want)
	}
	for _, w := range want {
		i := slices.IndexFunc(listed.Sessions, func(s sessionInfo) bool { return s.ID == w.ID })
		if i < 0 {
			t.Fatalf("sessions -json lacks session %s: %+v", w.ID, listed)
		}
		got := listed.Sessions[i]
		if !got.Created.Equal(w.Created) || !got.LastSeen.Equal(w.LastSeen) || !got.Expires.Equal(w.Expires) || got.UserAgent != w.UserAgent {
			t.Errorf("sessions -json entry %+v; the manager says %+v", got, w)
		}
	}
	// Newest first: Safari logged in after Firefox.
	if listed.Sessions[0].UserAgent != "Safari/2" || listed.Sessions[1].UserAgent != "Firefox/1" {
		t.Errorf("sessions not newest first: %+v", listed.Sessions)
	}
	code, out, errs = admin(t, env, append(a.flags, "sessions", "-user", "alice")...)
	secrets(t, "sessions", out+errs, cookies...)
	if code != 0 || !strings.HasPrefix(out, "ID") || strings.Count(out, "\n") != 3 || !strings.Contains(out, listed.Sessions[0].ID) || !strings.Contains(out, "Firefox/1") {
		t.Fatalf("sessions = %d %q %q; want a header and alice's two sessions", code, out, errs)
	}

	// revoke-user ends exactly alice's sessions.
	code, out, errs = admin(t, env, append(a.flags, "revoke-user", "-user", "alice")...)
	secrets(t, "revoke-user", out+errs, cookies...)
	if code != 0 || strings.TrimSpace(out) != "ended 2 sessions of alice" {
		t.Fatalf("revoke-user = %d %q %q", code, out, errs)
	}
	for i, c := range []*http.Client{alice1, alice2} {
		if got := whoami(t, a, c); got != "" {
			t.Errorf("alice's browser %d is still logged in as %q after revoke-user", i+1, got)
		}
	}
	if got := whoami(t, a, bob); got != "bob" {
		t.Errorf("bob's browser: whoami = %q after alice was revoked; want bob", got)
	}
	if left, err := a.m.Sessions(ctx, "alice"); err != nil || len(left) != 0 {
		t.Errorf("alice's sessions after revoke-user: %v %v", left, err)
	}
	if left, err := a.m.Sessions(ctx, "bob"); err != nil || len(left) != 1 {
		t.Errorf("bob's sessions after alice's revoke-user: %v %v; want 1", left, err)
	}

	// -json, and nothing left to end.
	code, out, errs = admin(t, env, append(a.flags, "revoke-user", "-user", "alice", "-json")...)
	var rev revokeUserResult
	if err := json.Unmarshal([]byte(out), &rev); err != nil || code != 0 || rev != (revokeUserResult{User: "alice", Ended: 0}) {
		t.Fatalf("revoke-user -json again = %d %q %q (%v); want 0 ended", code, out, errs, err)
	}
}

func TestAdminRevokeSession(t *testing.T) {
	a := newApp(t)
	env := map[string]string{"MONGODB_URI": mongotest.URI(t)}
	alice1, _ := a.browser(t, "alice", "Firefox/1")
	alice2, _ := a.browser(t, "alice", "Safari/2")
	bob, _ := a.browser(t, "bob", "Chrome/3")
	list := func(user string) []httpsession.Info {
		infos, err := a.m.Sessions(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		return infos
	}
	bobID := list("bob")[0].ID
	var firefox string
	for _, in := range list("alice") {
		if in.UserAgent == "Firefox/1" {
			firefox = in.ID
		}
	}

	// Not alice's: refused, nothing ended.
	code, out, errs := admin(t, env, append(a.flags, "revoke-session", "-user", "alice", "-id", bobID)...)
	if code != 1 || !strings.Contains(errs, "nothing ended") {
		t.Fatalf("revoke-session of bob's session as alice = %d %q %q; want exit 1, nothing ended", code, out, errs)
	}
	if whoami(t, a, bob) != "bob" {
		t.Fatal("revoke-session as alice ended bob's session")
	}

	code, out, errs = admin(t, env, append(a.flags, "revoke-session", "-user", "alice", "-id", firefox, "-json")...)
	var rev revokeSessionResult
	if err := json.Unmarshal([]byte(out), &rev); err != nil || code != 0 || rev != (revokeSessionResult{User: "alice", ID: firefox, Ended: true}) {
		t.Fatalf("revoke-session -json = %d %q %q (%v)", code, out, errs, err)
	}
	if got := whoami(t, a, alice1); got != "" {
		t.Errorf("the revoked browser is still logged in as %q", got)
	}
	if got := whoami(t, a, alice2); got != "alice" {
		t.Errorf("alice's other browser: whoami = %q; want alice", got)
	}
}

func TestAdminUsersAndStats(t *testing.T) {
	a := newApp(t)
	env := map[string]string{"MONGODB_URI": mongotest.URI(t)}
	for _, u := range []string{"carol", "carol", "carol", "alice", "alice", "bob"} {
		a.browser(t, u, "test")
	}
	// An anonymous session, and an expired session of dave's, which
	// counts nowhere.
	anon, _ := cookiejar.New(nil)
	if res, err := (&http.Client{Jar: anon}).Get(a.srv.URL + "/whoami"); err == nil {
		res.Body.Close()
	}
	if _, err := a.store.Collection().InsertOne(ctx, bson.D{{Key: "_id", Value: "expired-dave"}, {Key: "user", Value: "dave"},
		{Key: "session", Value: bson.D{}}, {Key: "expires", Value: time.Now().Add(-time.Minute)}}); err != nil {
		t.Fatal(err)
	}

	code, out, errs := admin(t, env, append(a.flags, "users", "-top", "2", "-json")...)
	var top usersResult
	if err := json.Unmarshal([]byte(out), &top); err != nil || code != 0 {
		t.Fatalf("users -json = %d %q %q (%v)", code, out, errs, err)
	}
	if want := []userCount{{"carol", 3}, {"alice", 2}}; !slices.Equal(top.Users, want) {
		t.Errorf("users -top 2 = %+v; want %+v", top.Users, want)
	}
	code, out, errs = admin(t, env, append(a.flags, "users")...)
	if code != 0 || out != "SESSIONS  USER\n3         carol\n2         alice\n1         bob\n" {
		t.Errorf("users = %d %q %q", code, out, errs)
	}

	code, out, errs = admin(t, env, append(a.flags, "stats", "-json")...)
	var st statsResult
	if err := json.Unmarshal([]byte(out), &st); err != nil || code != 0 {
		t.Fatalf("stats -json = %d %q %q (%v)", code, out, errs, err)
	}
	if st.Shape != shapeNative || st.Users == nil {
		t.Fatalf("stats -json of a native collection: %s", out)
	}
	live, err := a.store.Count(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// 3, 2 and 1 sessions: 3 users, max 3, median 2.
	if want := (userStats{Distinct: 3, Sessions: 6, Max: 3, Median: 2, Anonymous: live - 6}); *st.Users != want || st.Live != live || st.Expired != 1 {
		t.Errorf("stats -json = %+v, users %+v; want live %d, 1 expired, users %+v", st, *st.Users, live, want)
	}
	// One more user of 1 session: the median of 1, 1, 2, 3 is 1.5.
	a.browser(t, "erin", "test")
	_, out, _ = admin(t, env, append(a.flags, "stats")...)
	if got := table(out); got["users"] != "4" || got["sessions per user"] != "max 3, median 1.5" || got["shape"] != "native" {
		t.Errorf("stats = %q", out)
	}
}

// TestAdminShape: the native commands on a byte-level collection say so in
// one line and exit 2; on an empty collection they find nothing.
func TestAdminShape(t *testing.T) {
	flags := fixture(t) // scs-style documents
	env := map[string]string{"MONGODB_URI": mongotest.URI(t)}
	for _, args := range [][]string{
		{"sessions", "-user", "alice"},
		{"revoke-user", "-user", "alice"},
		{"revoke-session", "-user", "alice", "-id", "x"},
		{"users"},
	} {
		code, out, errs := admin(t, env, append(flags, args...)...)
		if code != 2 || out != "" || strings.Count(errs, "\n") != 1 || !strings.Contains(errs, "byte-level") {
			t.Errorf("%s on a byte-level collection = %d %q %q; want exit 2 and one line", args[0], code, out, errs)
		}
	}
	code, out, _ := admin(t, env, append(flags, "stats", "-json")...)
	var st statsResult
	if err := json.Unmarshal([]byte(out), &st); err != nil || code != 0 || st.Shape != shapeBytes || st.Users != nil {
		t.Errorf("stats -json of a byte-level collection = %d %q", code, out)
	}

	empty := []string{"-db", mongotest.Database, "-collection", mongotest.Collection(t)}
	code, out, errs := admin(t, env, append(empty, "sessions", "-user", "alice")...)
	if code != 0 || out != "no live sessions of alice\n" {
		t.Errorf("sessions on an empty collection = %d %q %q", code, out, errs)
	}
	code, out, errs = admin(t, env, append(empty, "revoke-user", "-user", "alice")...)
	if code != 0 || out != "ended 0 sessions of alice\n" {
		t.Errorf("revoke-user on an empty collection = %d %q %q", code, out, errs)
	}
	// A mistyped collection is not created (with a user index) by looking.
	s := mongotest.NewStore(t, mongosession.Options{AutoRemove: mongosession.AutoRemoveOff}) // only for its database
	names, err := s.Collection().Database().ListCollectionNames(ctx, bson.D{{Key: "name", Value: empty[3]}})
	if err != nil || len(names) != 0 {
		t.Errorf("the native commands created collection %v (%v)", names, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"sessions"}, "-user is required"},
		{[]string{"revoke-user"}, "-user is required"},
		{[]string{"revoke-session", "-user", "a"}, "-id is required"},
		{[]string{"users", "-top", "0"}, "-top must be"},
	} {
		code, out, errs := admin(t, env, append(empty, tc.args...)...)
		if code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("%q = %d %q %q; want exit 2 and %q", tc.args, code, out, errs, tc.want)
		}
	}
}
