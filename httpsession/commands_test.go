package httpsession_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/httpsession"
	"github.com/mongosession/mongosession/internal/mongotest"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
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
// request (the acceptance numbers) and checks that only what
// changed is written, always on the token's filter.
func TestCommandsPerRequest(t *testing.T) {
	e := newEnv(t, envConfig{configure: func(m *httpsession.Manager) {
		m.IdleTimeout = 10 * time.Second
		m.TouchAfter = 400 * time.Millisecond
	}})
	c := e.client(t)
	step := func(path, want string) []mongotest.Command {
		t.Helper()
		e.mustGet(t, c, path)
		cmds := e.rec.Take()
		if names(cmds) != want {
			t.Errorf("GET %s: %s, want %s", path, names(cmds), want)
		}
		t.Logf("GET %s: %d command(s): %s", path, len(cmds), names(cmds))
		return cmds
	}
	tokenFilter := func(what string, q bson.Raw) {
		t.Helper()
		got := fieldNames(t, q)
		got = slices.DeleteFunc(got, func(f string) bool {
			return f == "$or" || strings.HasPrefix(f, "keys.") || strings.HasPrefix(f, "session.")
		})
		if !slices.Equal(got, []string{"_id", "expires", "v"}) {
			t.Errorf("%s filters on %v, want _id, v and expires (the token's filter)", what, got)
		}
	}

	// A first visit that changes nothing: no command, no cookie.
	_, _, res := e.get(t, c, "/noop")
	if cmds := e.rec.Take(); len(cmds) != 0 || res.Header.Get("Set-Cookie") != "" {
		t.Errorf("anonymous request that touches nothing sent %s, cookie %q", names(cmds), res.Header.Get("Set-Cookie"))
	}
	// First visit of a counter: one insert.
	step("/incr?k=n", "insert")
	// Counter after the first visit: one findAndModify, nothing at the end.
	cmds := step("/incr?k=n", "findAndModify")
	tokenFilter("Incr", cmds[0].Body.Lookup("query").Document())
	// A request that touches nothing sends nothing.
	step("/noop", "")
	// Read-only: one find, no cookie.
	_, _, res = e.get(t, c, "/get?k=a")
	if cmds := e.rec.Take(); names(cmds) != "find" || res.Header.Get("Set-Cookie") != "" {
		t.Errorf("read-only request: %s, cookie %q; want find and no cookie", names(cmds), res.Header.Get("Set-Cookie"))
	}
	// A Put with no read: one update, guarded by MaxKeys through the keys
	// array, which it extends.
	cmds = step("/put?k=a&v=1", "update")
	q, u := updateSpec(t, cmds[0])
	tokenFilter("a Put", q)
	if got := fieldNames(t, u.Lookup("$set").Document()); !slices.Equal(got, []string{"expires", "seen", "session.a"}) {
		t.Errorf("$set of %v, want expires, seen, session.a", got)
	}
	if got := fieldNames(t, q); !slices.Contains(got, "keys.999") {
		t.Errorf("a Put with no read filters on %v; want the MaxKeys guard keys.999", got)
	}
	if got := u.Lookup("$addToSet", "keys", "$each").String(); got != `["a"]` {
		t.Errorf("a Put with no read adds %s to keys, want [\"a\"]", got)
	}
	// Read, then write: find, one update of that key.
	e.srv.Config.Handler = e.m.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/readput":
			e.m.Put(r.Context(), "b", e.m.GetString(r.Context(), "a")+"!")
		case "/login":
			e.m.SetUser(r.Context(), "alice")
			if err := e.m.RenewToken(r.Context()); err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			e.m.Put(r.Context(), "csrf", "t2")
		default:
			e.handler(t).ServeHTTP(w, r)
		}
	}))
	cmds = step("/readput", "find,update")
	_, u = updateSpec(t, cmds[1])
	if got := fieldNames(t, u.Lookup("$set").Document()); !slices.Equal(got, []string{"expires", "seen", "session.b"}) {
		t.Errorf("$set of %v, want expires, seen, session.b", got)
	}
	// Removing a key with no read: one update, $unset of that key.
	cmds = step("/remove?k=a", "update")
	if _, u := updateSpec(t, cmds[0]); !slices.Equal(fieldNames(t, u.Lookup("$unset").Document()), []string{"session.a"}) ||
		u.Lookup("$pullAll", "keys").String() != `["a"]` {
		t.Errorf("remove: %v, want $unset of session.a and $pullAll of a from keys", u)
	}
	// After TouchAfter, a read-only request writes the expiry and last-seen
	// time only; within it, nothing.
	time.Sleep(450 * time.Millisecond)
	cmds = step("/get?k=b", "find,update")
	if _, u := updateSpec(t, cmds[1]); !slices.Equal(fieldNames(t, u), []string{"$set"}) ||
		!slices.Equal(fieldNames(t, u.Lookup("$set").Document()), []string{"expires", "seen"}) {
		t.Errorf("touch: %v, want $set of expires and seen", u)
	}
	step("/get?k=b", "find")
	// Login on the existing session (SetUser, RenewToken, Put), which it
	// does not read: one update that sets the new v with the user and the
	// value.
	old := e.token(c)
	cmds = step("/login", "update")
	q, u = updateSpec(t, cmds[0])
	tokenFilter("RenewToken", q)
	if got := fieldNames(t, u.Lookup("$set").Document()); !slices.Equal(got, []string{"expires", "renewed", "seen", "session.csrf", "user", "v"}) {
		t.Errorf("renewal sets %v", got)
	}
	if e.token(c) == old || e.token(c)[:selectorLen] != old[:selectorLen] {
		t.Errorf("login: token %q after %q; want a new verifier, the same selector", e.token(c), old)
	}
	// Logout with no read: one delete.
	_, _, res = e.get(t, c, "/destroy")
	if cmds := e.rec.Take(); names(cmds) != "delete" || !strings.Contains(res.Header.Get("Set-Cookie"), "Max-Age=0") {
		t.Errorf("logout: %s, cookie %q; want delete and a cleared cookie", names(cmds), res.Header.Get("Set-Cookie"))
	}
	if n := e.count(t); n != 0 {
		t.Errorf("%d documents after logout", n)
	}
}

// TestKeysNameTheStoredKeys: the keys array that guards MaxKeys on writes
// that have not read the session names exactly the stored keys after
// every kind of write: a new session, Puts and Removes with and without a
// read, both in one write, Incr of a new key, Clear.
func TestKeysNameTheStoredKeys(t *testing.T) {
	e := newEnv(t, envConfig{})
	c := e.client(t)
	e.srv.Config.Handler = e.m.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Has("read") {
			e.m.Keys(r.Context())
		}
		if q.Has("clear") {
			e.m.Clear(r.Context())
		}
		for _, k := range q["put"] {
			e.m.Put(r.Context(), k, "v")
		}
		for _, k := range q["rm"] {
			e.m.Remove(r.Context(), k)
		}
		for _, k := range q["incr"] {
			if _, err := e.m.Incr(r.Context(), k, 1); err != nil {
				t.Errorf("Incr: %v", err)
			}
		}
		io.WriteString(w, "ok")
	}))
	for _, step := range []struct{ path, want, cmds string }{
		{"/?put=a&put=b", "a,b", "insert"},
		{"/?put=c", "a,b,c", "update"},
		{"/?rm=a", "b,c", "update"},
		{"/?put=a.b&rm=b", "a.b,c", "update,update"}, // add and pull: two updates
		{"/?read=1&put=d&rm=c", "a.b,d", "find,update,update"},
		{"/?incr=n", "a.b,d,n", "findAndModify"},
		{"/?rm=none", "a.b,d,n", "update"},
		{"/?clear=1&put=x", "x", "update"},
	} {
		e.rec.Reset()
		e.mustGet(t, c, step.path)
		if got := names(e.rec.Take()); got != step.cmds {
			t.Errorf("GET %s: %s, want %s", step.path, got, step.cmds)
		}
		raw, err := e.coll.FindOne(context.Background(), bson.D{}).Raw()
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Session bson.M   `bson:"session"`
			Keys    []string `bson:"keys"`
		}
		if err := bson.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		stored := slices.Sorted(maps.Keys(doc.Session))
		slices.Sort(doc.Keys)
		if strings.Join(doc.Keys, ",") != strings.Join(stored, ",") {
			t.Errorf("GET %s: keys %v, but the session stores %v", step.path, doc.Keys, stored)
		}
		if got := e.mustGetKeys(t, c); got != step.want {
			t.Errorf("GET %s: Keys %q, want %q", step.path, got, step.want)
		}
	}
}

// TestFailedKeysPullKeepsTheSave: a write that both adds and removes keys
// sends a second update, for the names it removes from the keys array. When
// that update fails, the request's changes and its renewed token are
// already stored: the failure is reported (logger and OnError), the
// response carries the new cookie, and ErrorFunc is not called (newEnv's
// cleanup checks).
func TestFailedKeysPullKeepsTheSave(t *testing.T) {
	var e *env
	var armed atomic.Bool
	reported := make(chan error, 10)
	e = newEnv(t, envConfig{
		storeOpts: func(o *mongosession.Options) { o.OnError = func(err error) { reported <- err } },
		onCommand: func(ev *event.CommandStartedEvent) {
			if ev.CommandName != "update" || !bytes.Contains(ev.Command, []byte("$pullAll")) || !armed.CompareAndSwap(true, false) {
				return
			}
			// A database writer breaks keys between the two updates, so
			// that the server refuses the pull.
			if _, err := e.coll.UpdateOne(context.Background(), bson.D{},
				bson.D{{Key: "$set", Value: bson.D{{Key: "keys", Value: "not an array"}}}}); err != nil {
				t.Error(err)
			}
		},
	})
	c := e.client(t)
	e.mustGet(t, c, "/put?k=a&v=1")
	old := e.token(c)
	e.srv.Config.Handler = e.m.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.m.Remove(r.Context(), "a")
		e.m.Put(r.Context(), "b", "2")
		if err := e.m.RenewToken(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "ok")
	}))
	armed.Store(true)
	e.mustGet(t, c, "/")
	if armed.Load() {
		t.Fatal("no update pulled from keys: the fault was not injected")
	}
	renewed := e.token(c)
	if renewed == old || !tokenRE.MatchString(renewed) {
		t.Fatalf("the response did not carry the renewed token: %q", renewed)
	}
	select {
	case err := <-reported:
		if !strings.Contains(err.Error(), "keys") {
			t.Errorf("reported %v, want the failed pull from keys", err)
		}
	default:
		t.Fatal("the failed pull was not reported")
	}
	doc := e.doc(t, renewed)
	// The stored v is SHA-256 of the token's verifier (after the selector).
	sum := sha256.Sum256([]byte(renewed[selectorLen:]))
	if v, _ := doc.Lookup("v").StringValueOK(); v != base64.RawURLEncoding.EncodeToString(sum[:]) {
		t.Fatal("the stored v is not the renewed token's: the renewal was lost")
	}
	if _, err := doc.LookupErr("session", "a"); err == nil {
		t.Error("the removed key a is still stored")
	}
	if got, _ := doc.Lookup("session", "b").StringValueOK(); got != "2" {
		t.Errorf("session.b = %q, want the Put's 2", got)
	}
}

var tokenRE = regexp.MustCompile(`^[A-Za-z0-9_-]{75}$`)

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
		t.Errorf("token %q is not 75 base64url characters (a selector and a 256-bit verifier)", ck.Value)
	}
	if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	if e.doc(t, ck.Value) == nil {
		t.Fatal("no document under the token's selector")
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

// TestExpiresKeyClash: a store whose ExpiresKey is one of the manager's own
// fields would make MongoDB refuse every write ("seen" set twice in one
// update) or match nothing ("v" filtered twice). Every request that uses
// the session fails with ErrInvalidOptions (through ErrorFunc, or Incr's
// error), and nothing is stored. ("session" is refused by the store itself.)
func TestExpiresKeyClash(t *testing.T) {
	for _, key := range []string{"seen", "v", "keys"} {
		t.Run(key, func(t *testing.T) {
			e := newEnv(t, envConfig{storeOpts: func(o *mongosession.Options) { o.ExpiresKey = key }})
			for _, path := range []string{"/put?k=a&v=1", "/incr?k=n"} {
				code, body, _ := e.get(t, e.client(t), path)
				if code != http.StatusInternalServerError {
					t.Fatalf("GET %s: status %d, want 500", path, code)
				}
				select {
				case err := <-e.errs:
					if !errors.Is(err, mongosession.ErrInvalidOptions) || !strings.Contains(err.Error(), key) {
						t.Errorf("GET %s: ErrorFunc got %v, want ErrInvalidOptions naming %q", path, err, key)
					}
				default: // the handler answers Incr's error itself
					if path != "/incr?k=n" || !strings.Contains(body, mongosession.ErrInvalidOptions.Error()) {
						t.Errorf("GET %s: answered %q, want ErrInvalidOptions", path, body)
					}
				}
			}
			if n := e.count(t); n != 0 {
				t.Errorf("%d documents stored", n)
			}
		})
	}
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
