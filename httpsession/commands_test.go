package httpsession_test

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/httpsession"
	"github.com/mongosession/mongosession/internal/mongotest"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// updateSpec returns the first update statement of an update command:
// its filter and update document.
func updateSpec(t *testing.T, c mongotest.Command) (q, u bson.Raw) {
	t.Helper()
	ups, err := c.Body.LookupErr("updates")
	if err != nil {
		t.Fatalf("update command without updates: %v", c.Body)
	}
	vals, err := ups.Array().Values()
	if err != nil || len(vals) != 1 {
		t.Fatalf("want one update statement, got %v", ups)
	}
	st := vals[0].Document()
	if up, ok := st.Lookup("upsert").BooleanOK(); ok && up {
		t.Errorf("update of an existing session is an upsert: %v", st)
	}
	return st.Lookup("q").Document(), st.Lookup("u").Document()
}

// fieldNames returns the names of a document's fields.
func fieldNames(t *testing.T, d bson.Raw) []string {
	t.Helper()
	elems, err := d.Elements()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range elems {
		out = append(out, e.Key())
	}
	slices.Sort(out)
	return out
}

// TestCommandsPerRequest measures what goes over the wire for each kind of
// request and checks that only what changed is written.
func TestCommandsPerRequest(t *testing.T) {
	e := newEnv(t, envConfig{configure: func(m *httpsession.Manager) {
		m.IdleTimeout = 10 * time.Second
		m.TouchAfter = 400 * time.Millisecond
	}})
	c := e.client(t)

	// A first visit that changes nothing: no command, no cookie.
	_, _, res := e.get(t, c, "/noop")
	if cmds := e.rec.Take(); len(cmds) != 0 {
		t.Errorf("anonymous read-only request sent %s", names(cmds))
	}
	if res.Header.Get("Set-Cookie") != "" {
		t.Errorf("anonymous read-only request set a cookie")
	}

	// A first visit that changes something: one insert.
	e.mustGet(t, c, "/put?k=a&v=1")
	cmds := e.rec.Take()
	if names(cmds) != "insert" {
		t.Errorf("new session: %s, want insert", names(cmds))
	}
	t.Logf("new session: %d command(s): %s", len(cmds), names(cmds))

	// Read-only: one find, nothing written, no cookie.
	_, _, res = e.get(t, c, "/get?k=a")
	cmds = e.rec.Take()
	if names(cmds) != "find" {
		t.Errorf("read-only request: %s, want find", names(cmds))
	}
	if res.Header.Get("Set-Cookie") != "" {
		t.Errorf("read-only request set a cookie")
	}
	t.Logf("read-only request: %d command(s): %s", len(cmds), names(cmds))

	// Changing one key: find + one update that sets that key, the expiry
	// and last-seen time, and nothing else.
	e.mustGet(t, c, "/put?k=b&v=2")
	cmds = e.rec.Take()
	if names(cmds) != "find,update" {
		t.Fatalf("changing request: %s, want find,update", names(cmds))
	}
	t.Logf("changing request: %d command(s): %s", len(cmds), names(cmds))
	q, u := updateSpec(t, cmds[1])
	if got := fieldNames(t, u); !slices.Equal(got, []string{"$set"}) {
		t.Errorf("update operators %v, want [$set]", got)
	}
	if got := fieldNames(t, u.Lookup("$set").Document()); !slices.Equal(got, []string{"expires", "seen", "session.b"}) {
		t.Errorf("$set of %v, want expires, seen, session.b", got)
	}
	if got := fieldNames(t, q); !slices.Equal(got, []string{"_id", "expires", "next"}) {
		t.Errorf("update filter on %v, want _id, expires and next (the live filter: not expired, not a tombstone)", got)
	}

	// Removing a key: $unset of that key only.
	e.mustGet(t, c, "/remove?k=a")
	cmds = e.rec.Take()
	if names(cmds) != "find,update" {
		t.Fatalf("removing request: %s", names(cmds))
	}
	_, u = updateSpec(t, cmds[1])
	if got := fieldNames(t, u.Lookup("$unset").Document()); !slices.Equal(got, []string{"session.a"}) {
		t.Errorf("$unset of %v, want session.a", got)
	}
	// Removing a key that is not there writes nothing.
	e.mustGet(t, c, "/remove?k=nothere")
	if cmds := e.rec.Take(); names(cmds) != "find" {
		t.Errorf("removing a missing key: %s, want find", names(cmds))
	}

	// After TouchAfter, a read-only request writes the expiry and
	// last-seen time only.
	time.Sleep(450 * time.Millisecond)
	e.mustGet(t, c, "/noop")
	cmds = e.rec.Take()
	if names(cmds) != "find,update" {
		t.Fatalf("read-only request after TouchAfter: %s, want find,update", names(cmds))
	}
	_, u = updateSpec(t, cmds[1])
	if got := fieldNames(t, u); !slices.Equal(got, []string{"$set"}) {
		t.Errorf("touch operators %v, want [$set]", got)
	}
	if got := fieldNames(t, u.Lookup("$set").Document()); !slices.Equal(got, []string{"expires", "seen"}) {
		t.Errorf("touch sets %v, want expires and seen", got)
	}
	// ... and the next one, within TouchAfter, nothing again.
	e.mustGet(t, c, "/noop")
	if cmds := e.rec.Take(); names(cmds) != "find" {
		t.Errorf("read-only request right after a touch: %s, want find", names(cmds))
	}

	// Login from an existing session: find, findAndModify fencing the old
	// document (and reading it fresh), insert of the renewed session (with
	// its user).
	e.mustGet(t, c, "/login?user=alice")
	cmds = e.rec.Take()
	if names(cmds) != "find,findAndModify,insert" {
		t.Errorf("login: %s, want find,findAndModify,insert", names(cmds))
	}
	t.Logf("login: %d command(s): %s", len(cmds), names(cmds))

	// Incr: find + one findAndModify, nothing at the end of the request.
	e.mustGet(t, c, "/incr?k=n")
	cmds = e.rec.Take()
	if names(cmds) != "find,findAndModify" {
		t.Errorf("Incr request: %s, want find,findAndModify", names(cmds))
	}
	t.Logf("Incr request: %d command(s): %s", len(cmds), names(cmds))

	// Logout: find + findAndModify deleting the session (and telling
	// whether it was renewed meanwhile).
	e.mustGet(t, c, "/destroy")
	if cmds := e.rec.Take(); names(cmds) != "find,findAndModify" {
		t.Errorf("logout: %s, want find,findAndModify", names(cmds))
	}
}

var tokenRE = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

func TestCookieAndStoredID(t *testing.T) {
	e := newEnv(t, envConfig{})
	c := e.client(t)
	_, _, res := e.get(t, c, "/put?k=a&v=1")
	cookies := res.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies %v", cookies)
	}
	ck := cookies[0]
	if ck.Name != "session" || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Domain != "" || ck.Secure {
		t.Errorf("cookie attributes: %+v", ck)
	}
	if ck.MaxAge < int((23 * time.Hour).Seconds()) {
		t.Errorf("persistent cookie Max-Age %d, want about 24 h", ck.MaxAge)
	}
	if !tokenRE.MatchString(ck.Value) {
		t.Errorf("token %q is not 43 base64url characters (256 bits)", ck.Value)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	if e.doc(t, ck.Value) == nil {
		t.Fatal("no document under HashID(token)")
	}
	n, _ := e.coll.CountDocuments(context.Background(), bson.D{{Key: "_id", Value: ck.Value}})
	if n != 0 {
		t.Error("the token itself is stored as an _id")
	}
	// Tokens are fresh each time.
	seen := map[string]bool{ck.Value: true}
	for range 20 {
		_, _, res := e.get(t, e.client(t), "/put?k=a&v=1")
		v := res.Cookies()[0].Value
		if seen[v] {
			t.Fatal("token repeated")
		}
		seen[v] = true
	}
}

func TestCookieOptions(t *testing.T) {
	e := newEnv(t, envConfig{configure: func(m *httpsession.Manager) {
		m.Cookie.Name = "__Host-sid"
		m.Cookie.Secure = true
		m.Cookie.Persist = false
		m.Cookie.SameSite = http.SameSiteStrictMode
	}})
	_, _, res := e.get(t, e.client(t), "/put?k=a&v=1")
	h := res.Header.Get("Set-Cookie")
	for _, want := range []string{"__Host-sid=", "Secure", "HttpOnly", "SameSite=Strict", "Path=/"} {
		if !strings.Contains(h, want) {
			t.Errorf("Set-Cookie %q lacks %q", h, want)
		}
	}
	if strings.Contains(h, "Expires") || strings.Contains(h, "Max-Age") {
		t.Errorf("non-persistent cookie has an expiry: %q", h)
	}
}

func TestStoreFailureGoesToErrorFunc(t *testing.T) {
	e := newEnv(t, envConfig{})
	c := e.client(t)
	e.mustGet(t, c, "/put?k=a&v=1")
	if err := e.store.Close(); err != nil {
		t.Fatal(err)
	}
	code, _, _ := e.get(t, c, "/get?k=a")
	if code != 500 {
		t.Fatalf("status %d after the store closed, want 500 from ErrorFunc", code)
	}
	select {
	case err := <-e.errs:
		if !strings.Contains(err.Error(), mongosession.ErrClosed.Error()) {
			t.Errorf("ErrorFunc got %v, want ErrClosed", err)
		}
	default:
		t.Fatal("ErrorFunc not called")
	}
	// A new session that fails to save also goes to ErrorFunc.
	code, body, _ := e.get(t, e.client(t), "/put?k=a&v=1")
	if code != 500 || body == "ok" {
		t.Fatalf("failed save answered %d %q", code, body)
	}
	<-e.errs
}

func TestOutsideLoadAndSave(t *testing.T) {
	e := newEnv(t, envConfig{})
	ctx := context.Background()
	e.m.Put(ctx, "a", 1)
	if e.m.Get(ctx, "a") != nil || e.m.Exists(ctx, "a") || e.m.Keys(ctx) != nil {
		t.Error("a context without a session has values")
	}
	if _, err := e.m.Incr(ctx, "a", 1); err != httpsession.ErrNoSession {
		t.Errorf("Incr: %v, want ErrNoSession", err)
	}
	if err := e.m.RenewToken(ctx); err != httpsession.ErrNoSession {
		t.Errorf("RenewToken: %v", err)
	}
	if err := e.m.Destroy(ctx); err != httpsession.ErrNoSession {
		t.Errorf("Destroy: %v", err)
	}
	if n := e.count(t); n != 0 {
		t.Errorf("%d documents", n)
	}
}

// A new session whose changes cancel out is not stored.
func TestNewSessionPutThenRemoveStoresNothing(t *testing.T) {
	e := newEnv(t, envConfig{})
	e.srv.Config.Handler = e.m.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.m.Put(r.Context(), "a", 1)
		e.m.Remove(r.Context(), "a")
		e.m.Clear(r.Context())
	}))
	_, _, res := e.get(t, e.client(t), "/")
	if cmds := e.rec.Take(); len(cmds) != 0 {
		t.Errorf("sent %s", names(cmds))
	}
	if res.Header.Get("Set-Cookie") != "" {
		t.Error("set a cookie")
	}
}
