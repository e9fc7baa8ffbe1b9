package httpsession_test

// The security suite of issue 4 through the native manager, against the
// real server, over HTTP with a cookie jar. The manager always stores the
// SHA-256 of the token and, with EncryptionKeys, seals each value on its
// own: tokens, the dump test, encryption (rotation, a ciphertext moved
// between sessions or between keys of one session), hostile cookies and
// hostile keys through Put, Get, Incr and Remove (and ids and users through
// RevokeSession, RevokeUser and Sessions) with every command sent checked,
// and the log test.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/httpsession"
	"github.com/mongosession/mongosession/internal/mongotest"
	"github.com/mongosession/mongosession/internal/securitytest"
	"github.com/mongosession/mongosession/internal/storetest"
)

// secClient is e.client with its session cookies recorded in issued.
func secClient(t *testing.T, e *env, issued *securitytest.Issued) *http.Client {
	c := e.client(t)
	c.Transport = issued
	return c
}

// secExpect fails the test unless GET path answers 200 and want.
func secExpect(t *testing.T, e *env, c *http.Client, path, want string) {
	t.Helper()
	if code, body, _ := e.get(t, c, path); code != http.StatusOK || body != want {
		t.Fatalf("GET %.80s = %d %q; want 200 %q", path, code, body, want)
	}
}

// secProbe sends one request with a Cookie header written as given straight
// to the manager's middleware, and returns the status, the body and the
// value of any session cookie set.
func secProbe(e *env, path, cookie string) (int, string, string) {
	return securitytest.Probe(e.srv.Config.Handler, httpsession.DefaultCookieName, path, cookie)
}

// secServerTakesNUL reports whether the server accepts a string holding a
// NUL in a filter, as MongoDB does. FerretDB over PostgreSQL refuses any
// command with one ("unsupported Unicode escape sequence": PostgreSQL's
// jsonb has no \u0000), whoever sends it. An error that is not the
// server's reply fails the test.
func secServerTakesNUL(t *testing.T, coll *mongo.Collection) bool {
	t.Helper()
	_, err := coll.CountDocuments(context.Background(), bson.D{{Key: "_id", Value: "a\x00b"}})
	var se mongo.ServerError
	if err != nil && !errors.As(err, &se) {
		t.Fatalf("probing for NUL in strings: %v", err)
	}
	if err != nil {
		t.Logf("the server refuses a NUL in a string: %v", err)
	}
	return err == nil
}

// secOwnCollection returns the env's collection through a client of the
// test's own.
func secOwnCollection(t *testing.T, e *env) *mongo.Collection {
	t.Helper()
	c, err := mongo.Connect(options.Client().ApplyURI(mongotest.URI(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Disconnect(context.Background()) })
	return c.Database(mongotest.Database).Collection(e.coll.Name())
}

// secSafeField reports whether f is a field name an escaped key may have:
// not empty, no '.', no NUL, valid UTF-8, not starting with '$' or '_'.
func secSafeField(f string) bool {
	return f != "" && !strings.ContainsAny(f, ".\x00") && f[0] != '$' && f[0] != '_' && utf8.ValidString(f)
}

// secCheckNativeFilter returns why f is not a filter the manager may send:
// _id and user only as strings, the expiry only as {$gt: date}, a stored
// value (the compare-and-swap of an encrypted Incr) only under a safe
// field name and as binary or {$exists: false}; nothing else.
func secCheckNativeFilter(f bson.Raw) error {
	elems, err := f.Elements()
	if err != nil {
		return err
	}
	for _, e := range elems {
		k, v := e.Key(), e.Value()
		switch {
		case k == "_id" || k == "user" || k == "v" || k == "pv":
			if v.Type != bson.TypeString {
				return fmt.Errorf("%s is BSON %s, not a string: %.100s", k, v.Type, v)
			}
		case k == "$or": // Destroy: the token, or the token a renewal replaced
			alts, _ := v.Array().Values()
			for _, a := range alts {
				if err := secCheckNativeFilter(a.Document()); err != nil {
					return err
				}
			}
		case strings.HasPrefix(k, "keys."): // the MaxKeys guard: {keys.<n>: {$exists: false}}
			if _, err := strconv.Atoi(strings.TrimPrefix(k, "keys.")); err != nil || v.String() != `{"$exists": false}` {
				return fmt.Errorf("MaxKeys guard %.60q: %.100s", k, v)
			}
		case k == mongosession.DefaultExpiresKey || k == "renewed":
			d, ok := v.DocumentOK()
			ops, _ := d.Elements()
			if !ok || len(ops) != 1 || ops[0].Key() != "$gt" || ops[0].Value().Type != bson.TypeDateTime {
				return fmt.Errorf("expiry condition %.100s; want {$gt: date}", v)
			}
		case strings.HasPrefix(k, "session."):
			if !secSafeField(strings.TrimPrefix(k, "session.")) {
				return fmt.Errorf("filter path %.100q escapes the session", k)
			}
			if v.Type == bson.TypeBinary {
				continue
			}
			d, ok := v.DocumentOK()
			ops, _ := d.Elements()
			for _, op := range ops {
				if !ok || (op.Key() != "$exists" && op.Key() != "$not") {
					return fmt.Errorf("condition on %.60q: %.100s; want binary, {$exists: bool} or Incr's {$not: {$gt: n}}", k, v)
				}
			}
		default:
			return fmt.Errorf("unexpected filter field %.100q", k)
		}
	}
	return nil
}

// secCheckNativeUpdate returns why u is not an update the manager may
// send: $set, $unset and $inc only, of its own fields or of
// "session.<safe field>".
func secCheckNativeUpdate(u bson.Raw) error {
	ops, err := u.Elements()
	if err != nil {
		return err
	}
	for _, op := range ops {
		switch op.Key() {
		case "$set", "$unset", "$inc":
		case "$addToSet", "$pullAll": // of field names to keys
			if err := secCheckKeys(op.Value().Document().Lookup("keys")); err != nil {
				return fmt.Errorf("%s: %w", op.Key(), err)
			}
			continue
		default:
			return fmt.Errorf("update operator %.100q", op.Key())
		}
		paths, _ := op.Value().Document().Elements()
		for _, p := range paths {
			switch k := p.Key(); k {
			case mongosession.DefaultExpiresKey, "seen", "user", "session", "v", "pv", "renewed", "ua":
			case "keys":
				if err := secCheckKeys(p.Value()); err != nil {
					return err
				}
			default:
				if rest, ok := strings.CutPrefix(k, "session."); !ok || !secSafeField(rest) {
					return fmt.Errorf("%s path %.100q escapes the session or holds an operator", op.Key(), k)
				}
			}
		}
	}
	return nil
}

// secCheckKeys returns why v is not what the manager may write to its
// keys array: one escaped field name, {$each: names} or an array of them.
func secCheckKeys(v bson.RawValue) error {
	if name, ok := v.StringValueOK(); ok {
		if name != "%" && !secSafeField(name) {
			return fmt.Errorf("keys name %.100q", name)
		}
		return nil
	}
	if d, ok := v.DocumentOK(); ok && len(d) > 0 {
		if elems, _ := d.Elements(); len(elems) == 1 && elems[0].Key() == "$each" {
			return secCheckKeys(elems[0].Value())
		}
	}
	a, ok := v.ArrayOK()
	if !ok {
		return fmt.Errorf("keys written as %.100s", v)
	}
	names, _ := a.Values()
	for _, n := range names {
		if n.Type != bson.TypeString {
			return fmt.Errorf("keys element %.100s", n)
		}
		if err := secCheckKeys(n); err != nil {
			return err
		}
	}
	return nil
}

// secCheckNativeInsert returns why d is not a session document the
// manager may insert.
func secCheckNativeInsert(d bson.Raw) error {
	elems, err := d.Elements()
	if err != nil {
		return err
	}
	for _, e := range elems {
		switch e.Key() {
		case "_id", "user", "v":
			if e.Value().Type != bson.TypeString {
				return fmt.Errorf("inserted %s is BSON %s", e.Key(), e.Value().Type)
			}
		case "session":
			fields, _ := e.Value().Document().Elements()
			for _, f := range fields {
				if f.Key() != "%" && !secSafeField(f.Key()) {
					return fmt.Errorf("inserted session field %.100q", f.Key())
				}
			}
		case "keys":
			if err := secCheckKeys(e.Value()); err != nil {
				return err
			}
		case mongosession.DefaultExpiresKey, "seen", "ua":
		default:
			return fmt.Errorf("inserted field %.100q", e.Key())
		}
	}
	return nil
}

// secCheckCommands fails the test unless every filter, update and inserted
// document of cmds is one the manager may send; it returns the _id
// and user values filtered on, and how many writes addressed a path
// inside "session".
func secCheckCommands(t *testing.T, cmds []mongotest.Command) (ids, users []string, keyPaths int) {
	t.Helper()
	check := func(what string, err error) {
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	filter := func(name string, v bson.RawValue) {
		f, ok := v.DocumentOK()
		if !ok {
			return
		}
		check(name+" filter", secCheckNativeFilter(f))
		if s, ok := f.Lookup("_id").StringValueOK(); ok {
			ids = append(ids, s)
		}
		if s, ok := f.Lookup("user").StringValueOK(); ok {
			users = append(users, s)
		}
	}
	update := func(name string, v bson.RawValue) {
		u, ok := v.DocumentOK()
		if !ok {
			return
		}
		check(name+" update", secCheckNativeUpdate(u))
		if strings.Contains(u.String(), `"session.`) {
			keyPaths++
		}
	}
	for _, c := range cmds {
		switch c.Name {
		case "find":
			filter(c.Name, c.Body.Lookup("filter"))
		case "findAndModify":
			filter(c.Name, c.Body.Lookup("query"))
			update(c.Name, c.Body.Lookup("update"))
		case "update":
			vals, _ := c.Body.Lookup("updates").Array().Values()
			for _, v := range vals {
				filter(c.Name, v.Document().Lookup("q"))
				update(c.Name, v.Document().Lookup("u"))
			}
		case "delete":
			vals, _ := c.Body.Lookup("deletes").Array().Values()
			for _, v := range vals {
				filter(c.Name, v.Document().Lookup("q"))
			}
		case "insert":
			vals, _ := c.Body.Lookup("documents").Array().Values()
			for _, v := range vals {
				check("insert", secCheckNativeInsert(v.Document()))
			}
		}
	}
	return ids, users, keyPaths
}

// secHandler is the manager's middleware around the operations the
// injection test drives, each key, user and id taken from the query:
//
//	/put?k&v /get?k /incr?k /getint?k /remove?k /keys /login?user
//	/revoke?user&id /revokeuser?user /sessions?user
func secHandler(m *httpsession.Manager) http.Handler {
	mux := http.NewServeMux()
	q := func(r *http.Request, name string) string { return r.URL.Query().Get(name) }
	mux.HandleFunc("/put", func(w http.ResponseWriter, r *http.Request) {
		m.Put(r.Context(), q(r, "k"), q(r, "v"))
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/get", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, m.GetString(r.Context(), q(r, "k")))
	})
	mux.HandleFunc("/incr", func(w http.ResponseWriter, r *http.Request) {
		n, err := m.Incr(r.Context(), q(r, "k"), 1)
		if err != nil {
			http.Error(w, "incr failed", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, n)
	})
	mux.HandleFunc("/getint", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, m.GetInt64(r.Context(), q(r, "k")))
	})
	mux.HandleFunc("/remove", func(w http.ResponseWriter, r *http.Request) {
		m.Remove(r.Context(), q(r, "k"))
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, len(m.Keys(r.Context())))
	})
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		m.SetUser(r.Context(), q(r, "user"))
		if err := m.RenewToken(r.Context()); err != nil {
			http.Error(w, "renew failed", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/revoke", func(w http.ResponseWriter, r *http.Request) {
		if err := m.RevokeSession(r.Context(), q(r, "user"), q(r, "id")); err != nil {
			http.Error(w, "revoke failed", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/revokeuser", func(w http.ResponseWriter, r *http.Request) {
		n, err := m.RevokeUser(r.Context(), q(r, "user"))
		if err != nil {
			http.Error(w, "revoke failed", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, n)
	})
	mux.HandleFunc("/sessions", func(w http.ResponseWriter, r *http.Request) {
		s, err := m.Sessions(r.Context(), q(r, "user"))
		if err != nil {
			http.Error(w, "sessions failed", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, len(s))
	})
	return m.LoadAndSave(mux)
}

func TestSecurityTokens(t *testing.T) {
	// The manager's tokens can only be had from new sessions, each one
	// insert: 512 of them, enough to check every bit position.
	const n = 512
	e := newEnv(t, envConfig{})
	tokens := make([]string, 0, n)
	for range n {
		code, body, tok := secProbe(e, "/put?k=a&v=1", "")
		if code != http.StatusOK || body != "ok" || tok == "" {
			t.Fatalf("a new session: %d %q, cookie %q", code, body, tok)
		}
		tokens = append(tokens, tok)
	}
	// The verifiers are 256 random bits each.
	var verifiers []string
	for _, tok := range tokens {
		verifiers = append(verifiers, tok[selectorLen:])
	}
	securitytest.CheckIDs(t, "verifiers issued by the manager", verifiers)
	// Each token's session is inserted under its selector, and the
	// inserted document holds no verifier.
	cmds := e.rec.Take()
	stored := map[string]bool{}
	for _, c := range cmds {
		if c.Name != "insert" {
			t.Fatalf("a new session sent %s", c.Name)
		}
		vals, _ := c.Body.Lookup("documents").Array().Values()
		for _, v := range vals {
			stored[v.Document().Lookup("_id").StringValue()] = true
		}
	}
	for _, tok := range tokens {
		if !stored[tok[:selectorLen]] {
			t.Fatal("a token's session was not inserted under the token's selector")
		}
	}
	for _, c := range cmds {
		for _, tok := range tokens {
			if bytes.Contains(c.Body, []byte(tok[selectorLen:])) {
				t.Fatal("an insert carries a verifier")
			}
		}
	}
}

func TestSecurityDump(t *testing.T) {
	e := newEnv(t, envConfig{keys: [][]byte{encryptionKey(1)}})
	e.srv.Config.Handler = secHandler(e.m)
	issued := &securitytest.Issued{Name: httpsession.DefaultCookieName}
	plaintexts := []string{"Go-http-client", "superuser"}
	var victims []*http.Client
	for i := range 3 {
		c := secClient(t, e, issued)
		secret := fmt.Sprintf("alice%d@example.com", i)
		secExpect(t, e, c, "/put?k=secEmail&v="+url.QueryEscape(secret), "ok")
		secExpect(t, e, c, "/login?user=user"+strconv.Itoa(i), "ok")
		secExpect(t, e, c, "/put?k=secRole&v=superuser", "ok")
		secExpect(t, e, c, "/incr?k=visits", "1")
		victims = append(victims, c)
		plaintexts = append(plaintexts, secret)
	}
	plaintexts = append(plaintexts, issued.All()...)

	own := secOwnCollection(t, e)
	docs := securitytest.Dump(t, own)
	// One document per session, whatever the renewals.
	live := len(docs)
	if live != len(victims) {
		t.Fatalf("%d documents; want %d sessions", len(docs), len(victims))
	}
	var candidates []string
	for _, d := range docs {
		for _, p := range plaintexts {
			if bytes.Contains(d, []byte(p)) {
				t.Fatalf("a stored document holds %q in clear", p)
			}
		}
		candidates = append(candidates, securitytest.Stored(d)...)
		// The selector with the stored hash in the verifier's place.
		candidates = append(candidates, d.Lookup("_id").StringValue()+d.Lookup("v").StringValue())
	}
	if len(candidates) < 5*live {
		t.Fatalf("%d candidates from %d sessions; want _id, user, ua and each value", len(candidates), live)
	}
	e.rec.Reset()
	for i, c := range candidates {
		for _, path := range []string{"/get?k=secEmail", "/sessions?user=user0"} {
			code, body, tok := secProbe(e, path, c)
			if code != http.StatusOK || body != map[string]string{"/get?k=secEmail": "", "/sessions?user=user0": "1"}[path] || tok != "" {
				t.Fatalf("stored value %d as a cookie on %s: %d %q, cookie %q; want 200 and no session", i, path, code, body, tok)
			}
		}
	}
	if ids, _, _ := secCheckCommands(t, e.rec.Take()); len(ids) < len(docs) {
		t.Fatalf("%d lookups; want at least one per stored _id", len(ids))
	}
	for i, c := range victims {
		secExpect(t, e, c, "/get?k=secEmail", fmt.Sprintf("alice%d@example.com", i))
	}
}

func TestSecurityEncryptionRotation(t *testing.T) {
	k1, k2 := encryptionKey(1), encryptionKey(2)
	var oldErrs, newErrs securitytest.Text
	old := newEnv(t, envConfig{keys: [][]byte{k1}, storeOpts: func(o *mongosession.Options) { o.OnError = oldErrs.Add }})
	shared := func(keys [][]byte, sink *securitytest.Text) *env {
		return newEnv(t, envConfig{keys: keys, storeOpts: func(o *mongosession.Options) {
			o.Collection = old.coll.Name()
			if sink != nil {
				o.OnError = sink.Add
			}
		}})
	}
	rotated := shared([][]byte{k2, k1}, nil)
	newOnly := shared([][]byte{k2}, &newErrs)

	c := old.client(t)
	secExpect(t, old, c, "/put?k=secEmail&v=written-under-k1", "ok")
	tok := old.token(c)
	secExpect(t, rotated, rotated.withCookie(t, tok), "/get?k=secEmail", "written-under-k1") // the old key still decrypts
	secExpect(t, rotated, rotated.withCookie(t, tok), "/put?k=secEmail&v=written-under-k2", "ok")
	secExpect(t, newOnly, newOnly.withCookie(t, tok), "/get?k=secEmail", "written-under-k2") // the new write used the new key
	if newErrs.HasCorrupt() {
		t.Fatalf("the store with only the new key reported %v", newErrs.All())
	}
	secExpect(t, old, old.withCookie(t, tok), "/get?k=secEmail", "") // the retired key alone reads nothing: a fresh session
	if !oldErrs.HasCorrupt() {
		t.Fatalf("OnError of the store with only the retired key got %v; want ErrCorrupt", oldErrs.All())
	}
}

func TestSecurityMovedCiphertext(t *testing.T) {
	ctx := context.Background()
	var seen securitytest.Text
	e := newEnv(t, envConfig{keys: [][]byte{encryptionKey(1)}, storeOpts: func(o *mongosession.Options) { o.OnError = seen.Add }})
	own := secOwnCollection(t, e)
	victim, attacker := e.client(t), e.client(t)
	secExpect(t, e, victim, "/put?k=secEmail&v=victim@example.com", "ok")
	secExpect(t, e, victim, "/put?k=secRole&v=user", "ok")
	secExpect(t, e, attacker, "/put?k=secEmail&v=attacker@example.com", "ok")
	victimID, attackerID := e.token(victim)[:selectorLen], e.token(attacker)[:selectorLen]

	var doc bson.Raw
	if err := own.FindOne(ctx, bson.D{{Key: "_id", Value: victimID}}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	email := doc.Lookup("session", "secEmail")
	if email.Type != bson.TypeBinary {
		t.Fatalf("the stored value is BSON %s, not sealed binary", email.Type)
	}
	set := func(id, path string, v bson.RawValue) {
		t.Helper()
		res, err := own.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: bson.D{{Key: path, Value: v}}}})
		if err != nil || res.MatchedCount != 1 {
			t.Fatalf("rewriting a document: %v, %v", res, err)
		}
	}

	// Into another session's document, same key.
	set(attackerID, "session.secEmail", email)
	secExpect(t, e, attacker, "/get?k=secEmail", "") // not the victim's data, not a 500: a fresh session
	if !seen.HasCorrupt() {
		t.Fatalf("OnError got %v; want ErrCorrupt", seen.All())
	}
	secExpect(t, e, victim, "/get?k=secEmail", "victim@example.com")
	secExpect(t, e, victim, "/get?k=secRole", "user")

	// Into another key of the same session.
	set(victimID, "session.secRole", email)
	secExpect(t, e, victim, "/get?k=secRole", "")
	secExpect(t, e, victim, "/get?k=secEmail", "") // the whole session is refused, not half of it
	secExpect(t, e, attacker, "/put?k=secEmail&v=again", "ok")

	// A database writer hands a logged-in session to another account: its
	// values are sealed to their user, so the session is refused.
	admin := e.client(t)
	secExpect(t, e, admin, "/login?user=admin", "ok")
	secExpect(t, e, admin, "/put?k=secRole&v=admin", "ok")
	secExpect(t, e, admin, "/get?k=secRole", "admin")
	typ, data, _ := bson.MarshalValue("mallory")
	set(e.token(admin)[:selectorLen], "user", bson.RawValue{Type: typ, Value: data})
	secExpect(t, e, admin, "/get?k=secRole", "")
	secExpect(t, e, admin, "/user", "")
}

// secHostileKeys is the injection corpus for keys, users and ids. Keys
// with leading or trailing whitespace have a test of their own,
// TestSecurityWhitespaceKeys.
func secHostileKeys() []string {
	return []string{
		"$where", "$gt", `{"$gt":""}`, "$set", "$inc", "$", "a.b", "a..b", ".", "session.secEmail", "session",
		"__proto__", "constructor", "_id", "expires", "user", "\x00", "a\x00b", "\xff\xfe", "valid\xc3\x28",
		"", "%", "%2E", "a b", "ü.$x", strings.Repeat("k", 10_000) + ".$x",
	}
}

func TestSecurityInjection(t *testing.T) {
	for _, tc := range []struct {
		name string
		keys [][]byte
	}{{"plain", nil}, {"encrypted", [][]byte{encryptionKey(3)}}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envConfig{keys: tc.keys})
			e.srv.Config.Handler = secHandler(e.m)
			nulStrings := secServerTakesNUL(t, e.coll)
			victim := e.client(t)
			secExpect(t, e, victim, "/put?k=secEmail&v=victim", "ok")
			secExpect(t, e, victim, "/put?k="+url.QueryEscape("$where")+"&v=victim-where", "ok")
			secExpect(t, e, victim, "/login?user=victim", "ok")
			victimToken := e.token(victim)
			e.rec.Reset()

			// Hostile keys through Put, Get and Remove in one session,
			// through Incr in another.
			keys := secHostileKeys()
			putter, counter := e.client(t), e.client(t)
			for i, k := range keys {
				secExpect(t, e, putter, "/put?k="+url.QueryEscape(k)+"&v=v"+strconv.Itoa(i), "ok")
			}
			for i, k := range keys {
				secExpect(t, e, putter, "/get?k="+url.QueryEscape(k), "v"+strconv.Itoa(i))
			}
			for i, k := range keys {
				if i%2 == 0 {
					secExpect(t, e, putter, "/remove?k="+url.QueryEscape(k), "ok")
				}
			}
			for i, k := range keys {
				want := "v" + strconv.Itoa(i)
				if i%2 == 0 {
					want = ""
				}
				secExpect(t, e, putter, "/get?k="+url.QueryEscape(k), want)
			}
			secExpect(t, e, putter, "/keys", strconv.Itoa(len(keys)/2))
			for _, want := range []string{"1", "2"} {
				for _, k := range keys {
					secExpect(t, e, counter, "/incr?k="+url.QueryEscape(k), want)
				}
			}
			for _, k := range keys {
				secExpect(t, e, counter, "/getint?k="+url.QueryEscape(k), "2")
			}
			// Hostile users and ids through RevokeSession, RevokeUser and
			// Sessions. Those holding a NUL go to a subtest of their own,
			// which a server that cannot take a NUL in a string skips.
			revokes := func(t *testing.T, k string) {
				t.Helper()
				secExpect(t, e, counter, "/revoke?user="+url.QueryEscape(k)+"&id="+url.QueryEscape(k), "ok")
				secExpect(t, e, counter, "/revokeuser?user="+url.QueryEscape(k), "0")
				secExpect(t, e, counter, "/sessions?user="+url.QueryEscape(k), "0")
			}
			var withNUL []string
			for _, k := range keys {
				if strings.ContainsRune(k, 0) {
					withNUL = append(withNUL, k)
					continue
				}
				revokes(t, k)
			}
			t.Run("nul_users", func(t *testing.T) {
				if !nulStrings {
					t.Skipf("the server refuses any command holding a NUL in a string (FerretDB over PostgreSQL: jsonb has no \\u0000), whoever sends it: RevokeSession, RevokeUser and Sessions with the users and ids %q are unchecked", withNUL)
				}
				for _, k := range withNUL {
					revokes(t, k)
				}
			})
			// Hostile cookies.
			cookies := append(storetest.HostileTokens(), victimToken[:selectorLen], victimToken[:42]+"$",
				victimToken[:42]+".", strings.Repeat("A", 43), strings.Repeat("-", 43))
			for i, ck := range cookies {
				for _, path := range []string{"/get?k=secEmail", "/put?k=secEmail&v=mine"} {
					code, body, tok := secProbe(e, path, ck)
					want := map[bool]string{true: "", false: "ok"}[strings.HasPrefix(path, "/get")]
					if adopted := ck != "" && tok == ck; code != http.StatusOK || body != want || adopted {
						t.Fatalf("hostile cookie %d (%.40q) on %s: %d %q, cookie %.50q; want 200 %q and a fresh session", i, ck, path, code, body, tok, want)
					}
				}
			}

			ids, users, keyPaths := secCheckCommands(t, e.rec.Take())
			if keyPaths < len(keys) {
				t.Fatalf("only %d writes addressed a stored key: the per-key paths were not exercised", keyPaths)
			}
			hostile := map[string]bool{}
			for _, k := range keys {
				hostile[k] = true
			}
			// A hostile id is no selector: RevokeSession does not send it.
			// A hostile cookie is no token: nothing is asked of the server.
			for _, id := range ids {
				if hostile[id] || slices.ContainsFunc(cookies, func(ck string) bool { return ck != "" && ck == id }) {
					t.Errorf("the hostile id or cookie %.40q reached the database", id)
				}
			}
			// Hostile users do reach it, as values of the user filter.
			reached := 0
			for _, u := range users {
				if hostile[u] {
					reached++
				}
			}
			if reached < 3 {
				t.Fatalf("only %d hostile users reached the database: the filter check proves little", reached)
			}
			secExpect(t, e, victim, "/get?k=secEmail", "victim")
			secExpect(t, e, victim, "/get?k="+url.QueryEscape("$where"), "victim-where")
			secExpect(t, e, victim, "/keys", "2")
			secExpect(t, e, victim, "/sessions?user=victim", "1")
			if e.token(victim) != victimToken {
				t.Fatal("the victim's token changed")
			}
		})
	}
}

// TestSecurityWhitespaceKeys: a key is an untrusted string; one with
// leading or trailing whitespace must work through Put, Incr and Remove
// on a stored session like any other, never a 500. FerretDB 1.x (a
// supported server, and the test server) refuses an update path whose
// component starts or ends with Unicode whitespace ("The update path
// 'session. ' contains an empty field name"), so the field name the
// manager stores such a key under must not start or end with whitespace.
func TestSecurityWhitespaceKeys(t *testing.T) {
	e := newEnv(t, envConfig{configure: func(m *httpsession.Manager) {
		m.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) {
			t.Errorf("ErrorFunc: %v", err)
			http.Error(w, "session error", http.StatusInternalServerError)
		}
	}})
	e.srv.Config.Handler = secHandler(e.m)
	for _, k := range []string{" ", "a ", " a", "\t", "\u00a0", "\u2003", "\u3000x"} {
		c := e.client(t)
		q := url.QueryEscape(k)
		for _, step := range []struct{ path, want string }{
			{"/put?k=first&v=1", "ok"}, // the session is stored: what follows are per-key updates
			{"/put?k=" + q + "&v=v", "ok"},
			{"/get?k=" + q, "v"},
			{"/remove?k=" + q, "ok"},
			{"/incr?k=" + q, "1"},
			{"/incr?k=" + q, "2"},
		} {
			if code, body, _ := e.get(t, c, step.path); code != http.StatusOK || body != step.want {
				t.Errorf("key %q: GET %s = %d %q; want 200 %q", k, step.path, code, body, step.want)
				break
			}
		}
	}
}

func TestSecurityTokensNeverLogged(t *testing.T) {
	for _, tc := range []struct {
		name string
		keys [][]byte
	}{{"plain", nil}, {"encrypted", [][]byte{encryptionKey(5)}}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			var logs, onError securitytest.Text
			e := newEnv(t, envConfig{
				keys: tc.keys,
				storeOpts: func(o *mongosession.Options) {
					o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
					o.OnError = onError.Add
				},
				configure: func(m *httpsession.Manager) { m.ErrorFunc = nil }, // the default logs
			})
			e.srv.Config.Handler = secHandler(e.m)
			own := secOwnCollection(t, e)
			issued := &securitytest.Issued{Name: httpsession.DefaultCookieName}
			user, other := secClient(t, e, issued), secClient(t, e, issued)

			// Login, changes, counters, logout, login again.
			for _, path := range []string{"/put?k=cart&v=apple", "/login?user=ann", "/incr?k=n", "/put?k=cart&v=pear",
				"/revoke?user=ann&id=nope", "/sessions?user=ann", "/revokeuser?user=ann", "/put?k=cart&v=fig", "/login?user=ann"} {
				if code, body, _ := e.get(t, user, path); code != http.StatusOK {
					t.Fatalf("GET %s: %d %s", path, code, body)
				}
			}
			// Documents the manager cannot read: not a document, and (with
			// keys) a value sealed for another key.
			secExpect(t, e, other, "/put?k=a&v=1", "ok")
			if _, err := own.UpdateOne(ctx, bson.D{{Key: "_id", Value: e.token(other)[:selectorLen]}},
				bson.D{{Key: "$set", Value: bson.D{{Key: "session", Value: "not a document"}}}}); err != nil {
				t.Fatal(err)
			}
			secExpect(t, e, other, "/get?k=a", "")
			secExpect(t, e, other, "/put?k=a&v=1", "ok")
			secExpect(t, e, other, "/put?k=b&v=2", "ok")
			if tc.keys != nil {
				var doc bson.Raw
				if err := own.FindOne(ctx, bson.D{{Key: "_id", Value: e.token(other)[:selectorLen]}}).Decode(&doc); err != nil {
					t.Fatal(err)
				}
				if _, err := own.UpdateOne(ctx, bson.D{{Key: "_id", Value: e.token(other)[:selectorLen]}},
					bson.D{{Key: "$set", Value: bson.D{{Key: "session.b", Value: doc.Lookup("session", "a")}}}}); err != nil {
					t.Fatal(err)
				}
				secExpect(t, e, other, "/get?k=a", "")
			}
			// Hostile cookies and keys, then the store goes away mid-run.
			for _, ck := range []string{"$where", strings.Repeat("A", 43), e.token(user)[:selectorLen]} {
				secProbe(e, "/get?k=a", ck)
			}
			secExpect(t, e, user, "/put?k="+url.QueryEscape("$where")+"&v=x", "ok")
			if err := e.store.Close(); err != nil {
				t.Fatal(err)
			}
			for _, path := range []string{"/get?k=cart", "/incr?k=n"} {
				if code, _, _ := e.get(t, user, path); code != http.StatusInternalServerError {
					t.Fatalf("GET %s with the store closed: %d; want 500", path, code)
				}
			}

			tokens := issued.All()
			if len(tokens) < 5 || !strings.Contains(logs.String(), "closed") || len(onError.All()) == 0 {
				t.Fatalf("the scenario produced too little to check: %d tokens, OnError %v, log %q", len(tokens), onError.All(), logs.String())
			}
			for _, err := range onError.All() {
				if !errors.Is(err, mongosession.ErrCorrupt) {
					t.Errorf("OnError got %v; want only ErrCorrupt reports", err)
				}
			}
			texts := []string{logs.String()}
			for _, err := range onError.All() {
				texts = append(texts, err.Error())
			}
			for _, text := range texts {
				for _, tok := range tokens {
					if strings.Contains(text, tok) {
						t.Errorf("a token appears in:\n%s", text)
					}
				}
			}
		})
	}
}
