package httpsession_test

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// rawRequest sends a request with a Cookie header written byte for byte,
// so that values no client library would send reach the server.
func rawRequest(t *testing.T, e *env, path, cookie string) (int, string) {
	t.Helper()
	u, _ := url.Parse(e.srv.URL)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := "GET " + path + " HTTP/1.1\r\nHost: x\r\nCookie: " + cookie + "\r\nConnection: close\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(conn)
	resp := buf.String()
	code := 0
	if len(resp) > 12 {
		code = int(resp[9]-'0')*100 + int(resp[10]-'0')*10 + int(resp[11]-'0')
	}
	return code, resp
}

func TestHostileCookies(t *testing.T) {
	e := newEnv(t, envConfig{})
	victim := e.client(t)
	e.mustGet(t, victim, "/put?k=secret&v=s3cret")
	token := e.token(victim)
	id := token[:selectorLen]
	v, _ := e.doc(t, token).Lookup("v").StringValueOK()
	e.rec.Reset()

	cookies := []string{
		`session=`, `session=$where`, `session={"$gt":""}`, `session=` + url.QueryEscape(`{"$ne":null}`),
		`session=` + strings.Repeat("A", 8000), `session=` + id, `session=` + token[:74], `session=` + token + "x",
		`session=` + token[:74] + "\xff", `session=` + "\xff\xfe\xfd", `session=a.b.c`, `session=__proto__`,
		`session=` + strings.Repeat("A", 75), `session=` + token[:74] + "$",
		`session=` + id + strings.Repeat("A", 43), // the selector with a wrong verifier
		`session=` + id + v,                       // the selector with the stored hash
	}
	for _, ck := range cookies {
		code, resp := rawRequest(t, e, "/get?k=secret", ck)
		if code != 200 {
			t.Errorf("cookie %.60q: status %d", ck, code)
			continue
		}
		if strings.Contains(resp, "s3cret") {
			t.Errorf("cookie %.60q read another session", ck)
		}
	}
	// Only the well-formed unknown token is looked up, by _id, as a string.
	for _, c := range e.rec.Take() {
		if c.Name != "find" {
			t.Errorf("a hostile cookie caused %s", c.Name)
			continue
		}
		id := c.Body.Lookup("filter", "_id")
		if s, ok := id.StringValueOK(); !ok || len(s) != selectorLen {
			t.Errorf("find with filter %v", c.Body.Lookup("filter"))
		}
	}
	// The bytes of the stored document are no cookie either.
	if got := e.mustGet(t, e.withCookie(t, id), "/get?k=secret"); got != "" {
		t.Errorf("the stored _id works as a cookie")
	}
	if got := e.mustGet(t, victim, "/get?k=secret"); got != "s3cret" {
		t.Fatalf("the victim's session was harmed: %q", got)
	}
	if n := e.count(t); n != 1 {
		t.Errorf("%d documents, want 1", n)
	}
}

func TestHostileKeys(t *testing.T) {
	e := newEnv(t, envConfig{})
	keys := []string{
		"$where", "$gt", "$", ".", "a.b", "a..b", "__proto__", "constructor", "_id", "session", "expires",
		"user", "a\x00b", "\x00", "\xff\xfe", "%", "%2E", "", "$set", "session.x", "$inc",
		strings.Repeat("k", 4096) + ".$x",
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/put":
			for i, k := range keys {
				e.m.Put(r.Context(), k, i)
			}
		case "/check":
			got := e.m.Keys(r.Context())
			want := slices.Clone(keys)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				http.Error(w, "keys differ", 500)
				return
			}
			for i, k := range keys {
				if v := e.m.GetInt(r.Context(), k); v != i {
					http.Error(w, "value differs", 500)
					return
				}
			}
		case "/remove":
			for _, k := range keys[:5] {
				e.m.Remove(r.Context(), k)
			}
		}
	})
	e.srv.Config.Handler = e.m.LoadAndSave(handler)
	c := e.client(t)
	e.mustGet(t, c, "/put")
	if cmds := e.rec.Take(); names(cmds) != "insert" {
		t.Fatalf("put: %s", names(cmds))
	}
	e.mustGet(t, c, "/check")
	e.rec.Reset()
	// Per-key writes of hostile keys, on an existing session.
	e.mustGet(t, c, "/put")
	cmds := e.rec.Take()
	if names(cmds) != "update" {
		t.Fatalf("second put: %s, want update", names(cmds))
	}
	_, u := updateSpec(t, cmds[0])
	if got := fieldNames(t, u); !slices.Equal(got, []string{"$addToSet", "$set"}) {
		t.Errorf("update operators %q, want $set and the $addToSet of keys", got)
	}
	added, _ := u.Lookup("$addToSet", "keys", "$each").Array().Values()
	for _, a := range added {
		f := a.StringValue()
		if f != "%" && (strings.ContainsAny(f, ".\x00") || strings.HasPrefix(f, "$") || !utf8.ValidString(f)) {
			t.Errorf("keys gets %q, not an escaped field name", f)
		}
	}
	if len(added) != len(keys) {
		t.Errorf("keys gets %d names, want %d", len(added), len(keys))
	}
	for _, f := range fieldNames(t, u.Lookup("$set").Document()) {
		if f == "expires" || f == "seen" {
			continue
		}
		rest, ok := strings.CutPrefix(f, "session.")
		if !ok || strings.ContainsAny(rest, ".\x00") || strings.HasPrefix(rest, "$") || !utf8.ValidString(rest) {
			t.Errorf("$set path %q escapes session or holds an operator", f)
		}
	}
	e.mustGet(t, c, "/check")
	// The stored document has exactly the expected top-level fields, and
	// every stored key is a plain field name.
	doc := e.doc(t, e.token(c))
	if got := fieldNames(t, doc); !slices.Equal(got, []string{"_id", "expires", "keys", "seen", "session", "ua", "v"}) {
		t.Errorf("top-level fields %v", got)
	}
	stored := fieldNames(t, doc.Lookup("session").Document())
	if len(stored) != len(keys) {
		t.Errorf("%d stored keys, want %d", len(stored), len(keys))
	}
	for _, f := range stored {
		if f == "" || strings.ContainsAny(f, ".\x00") || f[0] == '$' || f[0] == '_' || !utf8.ValidString(f) {
			t.Errorf("stored field name %q", f)
		}
	}
	e.mustGet(t, c, "/remove")
	cmds = e.rec.Take()
	_, u = updateSpec(t, cmds[len(cmds)-1])
	if n := len(fieldNames(t, u.Lookup("$unset").Document())); n != 5 {
		t.Errorf("$unset of %d fields, want 5", n)
	}
	n, _ := e.coll.CountDocuments(context.Background(), bson.D{})
	if n != 1 {
		t.Errorf("%d documents", n)
	}
}

// TestMalformedSessionMeetsBlindWrite: a database writer turned "session"
// into a string or "keys" into a number. A Put or an Incr that has not
// read the session is refused by the server; the request then reads it,
// finds it corrupt, and starts a new session instead of failing.
func TestMalformedSessionMeetsBlindWrite(t *testing.T) {
	for _, tamper := range []bson.E{{Key: "session", Value: "not a document"}, {Key: "keys", Value: 7}} {
		for _, path := range []string{"/put?k=b&v=2", "/incr?k=n"} {
			e := newEnv(t, envConfig{})
			c := e.client(t)
			e.mustGet(t, c, "/put?k=a&v=1")
			old := e.token(c)
			if _, err := e.coll.UpdateOne(context.Background(), bson.D{}, bson.D{{Key: "$set", Value: bson.D{tamper}}}); err != nil {
				t.Fatal(err)
			}
			e.rec.Reset()
			e.mustGet(t, c, path)
			if got := names(e.rec.Take()); !strings.HasSuffix(got, ",find,insert") {
				t.Errorf("%s=%v, GET %s: %s; want the refused write, find, insert", tamper.Key, tamper.Value, path, got)
			}
			if e.token(c) == old {
				t.Errorf("%s=%v, GET %s: the cookie still names the malformed session", tamper.Key, tamper.Value, path)
			}
			if got := e.mustGet(t, c, "/get?k=a"); got != "" {
				t.Errorf("%s=%v: the new session has a = %q", tamper.Key, tamper.Value, got)
			}
		}
	}
}
