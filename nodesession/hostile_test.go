package nodesession_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/mongosession/mongosession/internal/mongotest"
	"github.com/mongosession/mongosession/nodesession"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// whoamiRaw sends a hand-made Cookie header and reports the user seen. It
// fails the test unless the answer is 200.
func whoamiRaw(t *testing.T, base, cookie string) any {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/whoami", nil)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("Cookie %.80q: status %d %s", cookie, res.StatusCode, body)
	}
	var out struct {
		Session map[string]any `json:"session"`
	}
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out.Session["user"]
}

func expressSign(secret, val string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(val))
	return "s:" + val + "." + base64.RawStdEncoding.EncodeToString(m.Sum(nil))
}

// TestHostileCookiesExpress sends odd and hostile Cookie headers to the
// Node app and the Go side: both must make the same decision (the user or
// nothing), and neither answers anything but 200.
func TestHostileCookiesExpress(t *testing.T) {
	coll := mongotest.Collection(t)
	st := goStore(t, coll)
	secrets := []string{"sekrit"}
	node := startNode(t, "express-cms", coll, secrets)
	goBase := goServer(t, pairings[0].manager(t, st, secrets))
	c := newClient(t)
	c.get(node.base, "/login?user=alice")
	good := c.cookie(node.base, "connect.sid") // URL-encoded, as issued
	raw, _ := url.PathUnescape(good)
	sid := strings.TrimPrefix(raw[:strings.LastIndex(raw, ".")], "s:")

	cases := []struct {
		name, header string
		found        bool
	}{
		{"as issued", "connect.sid=" + good, true},
		{"not URL-encoded", "connect.sid=" + raw, true},
		{"quoted", `connect.sid="` + good + `"`, true},
		{"spaces and tabs", " \tconnect.sid = \t" + good + " ;x=1", true},
		{"after other cookies", "a=1; b=%ZZ; connect.sid=" + good, true},
		{"first occurrence wins (bad first)", "connect.sid=s%3Ajunk.sig; connect.sid=" + good, false},
		{"first occurrence wins (good first)", "connect.sid=" + good + "; connect.sid=s%3Ajunk.sig", true},
		{"unsigned sid", "connect.sid=" + sid, false},
		{"no dot", "connect.sid=s%3A" + sid, false},
		{"empty signed", "connect.sid=s%3A", false},
		{"only a dot", "connect.sid=s%3A.", false},
		{"bad percent escape", "connect.sid=%ZZs%3A" + sid, false},
		{"invalid UTF-8 escape", "connect.sid=s%3A%FF%FE." + sid, false},
		{"wrong secret", "connect.sid=" + url.QueryEscape(expressSign("other", sid)), false},
		{"tampered sid", "connect.sid=" + url.QueryEscape(strings.Replace(raw, sid, flipLast(sid), 1)), false},
		{"operator-looking sid", "connect.sid=" + url.QueryEscape(expressSign("sekrit", `{"$gt":""}`)), false},
		{"control characters", "connect.sid=" + url.QueryEscape(expressSign("sekrit", "a\x01b")), false},
		{"huge", "connect.sid=" + url.QueryEscape(expressSign("sekrit", strings.Repeat("A", 6000))), false},
		{"name prefix", "xconnect.sid=" + good, false},
		{"no cookie", "", false},
		{"garbage", ";;;===;", false},
	}
	for _, tc := range cases {
		gotNode := whoamiRaw(t, node.base, tc.header)
		gotGo := whoamiRaw(t, goBase, tc.header)
		if (gotNode == "alice") != tc.found || (gotGo == "alice") != tc.found {
			t.Errorf("%s: node saw %v, go saw %v; want found=%v", tc.name, gotNode, gotGo, tc.found)
		}
	}
}

// TestHostileCookiesKoa is the same for Koa's cookie and .sig pair.
func TestHostileCookiesKoa(t *testing.T) {
	coll := mongotest.Collection(t)
	st := goStore(t, coll)
	keys := []string{"k1"}
	node := startNode(t, "koa", coll, keys)
	goBase := goServer(t, pairings[3].manager(t, st, keys))
	c := newClient(t)
	c.get(node.base, "/login?user=alice")
	sid, sig := c.cookie(node.base, "koa.sid"), c.cookie(node.base, "koa.sid.sig")
	pair := "koa.sid=" + sid + "; koa.sid.sig=" + sig

	cases := []struct {
		name, header string
		found        bool
	}{
		{"as issued", pair, true},
		{"sig first", "koa.sid.sig=" + sig + "; koa.sid=" + sid, true},
		{"quoted", `koa.sid="` + sid + `"; koa.sid.sig=` + sig, true},
		{"no sig", "koa.sid=" + sid, false},
		{"empty sig", "koa.sid=" + sid + "; koa.sid.sig=", false},
		{"sig of another name", "koa.sid=" + sid + "; koa.sid.sig=" + sig + "x", false},
		{"first occurrence wins (bad first)", "koa.sid=zzz; " + pair, false},
		{"first occurrence wins (good first)", pair + "; koa.sid=zzz", true},
		{"percent-encoded sid is not decoded", "koa.sid=" + url.QueryEscape(sid+"=") + "; koa.sid.sig=" + sig, false},
		{"tab before name (regexp allows spaces only)", "a=1;\t" + pair, false},
		{"huge", "koa.sid=" + strings.Repeat("A", 6000) + "; koa.sid.sig=" + sig, false},
		{"garbage", "koa.sid; koa.sid.sig", false},
	}
	for _, tc := range cases {
		gotNode := whoamiRaw(t, node.base, tc.header)
		gotGo := whoamiRaw(t, goBase, tc.header)
		if (gotNode == "alice") != tc.found || (gotGo == "alice") != tc.found {
			t.Errorf("%s: node saw %v, go saw %v; want found=%v", tc.name, gotNode, gotGo, tc.found)
		}
	}
}

// polluting is a struct whose JSON names are hostile keys.
type polluting struct {
	Proto map[string]any `json:"__proto__"`
}

// hostileValue is a value to Set under key that holds a key Node code or
// MongoDB trips on, somewhere.
type hostileValue struct {
	name  string
	key   string
	value any
}

func hostileValues(t *testing.T) []hostileValue {
	raw, err := bson.Marshal(bson.D{{Key: "a", Value: bson.D{{Key: "constructor", Value: bson.D{{Key: "prototype", Value: 1}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	admin := map[string]any{"isAdmin": true}
	return []hostileValue{
		{"top-level __proto__", "__proto__", admin},
		{"top-level constructor", "constructor", admin},
		{"top-level prototype", "prototype", admin},
		{"top-level $", "$where", "1"},
		{"top-level dot", "a.b", 1},
		{"nested __proto__", "prefs", map[string]any{"__proto__": admin}},
		{"constructor in an array", "prefs", []any{1, map[string]any{"constructor": map[string]any{"prototype": admin}}}},
		{"deep prototype", "prefs", map[string]any{"a": map[string]any{"b": []any{map[string]any{"prototype": admin}}}}},
		{"nested $", "prefs", map[string]any{"q": map[string]any{"$gt": ""}}},
		{"nested dot", "prefs", map[string]any{"a.b": 1}},
		{"map of another type", "prefs", map[string]int{"$inc": 1}},
		{"struct JSON name", "prefs", polluting{Proto: admin}},
		{"bson.D", "prefs", bson.D{{Key: "x", Value: bson.D{{Key: "__proto__", Value: admin}}}}},
		{"bson.M", "prefs", bson.M{"x": bson.M{"$set": 1}}},
		{"bson.Raw", "prefs", bson.Raw(raw)},
		{"code scope", "prefs", bson.CodeWithScope{Code: "f()", Scope: bson.D{{Key: "__proto__", Value: 1}}}},
		{"NUL", "prefs", map[string]any{"a\x00b": 1}},
	}
}

// TestSetRefusesHostileKeysAtEveryDepth: every hostile key is ErrKey from
// Set, at the top level and at any depth, in any Go form of an object,
// and leaves the session unchanged; keys that merely look alike are
// accepted.
func TestSetRefusesHostileKeysAtEveryDepth(t *testing.T) {
	st := goStore(t, mongotest.Collection(t))
	m, err := nodesession.New(nodesession.Options{Store: st, Cookie: nodesession.ExpressCookie{Secrets: []string{"s"}}, Layout: nodesession.ConnectMongoDBSession{}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.Load(newRequest(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hostileValues(t) {
		if err := s.Set(h.key, h.value); !errors.Is(err, nodesession.ErrKey) {
			t.Errorf("%s: Set = %v, want ErrKey", h.name, err)
		}
	}
	if keys := s.Keys(); len(keys) != 0 {
		t.Fatalf("refused values left keys %v", keys)
	}
	for _, k := range []string{"proto", "__proto", "Constructor", "prototypes", "a$", "x_y"} {
		if err := s.Set(k, map[string]any{k: 1}); err != nil {
			t.Errorf("Set(%q) refused: %v", k, err)
		}
	}
}

// TestInteropHostileKeysRefused: against each real Node app, a Go request
// that tries to Set every hostile value gets ErrKey each time and answers
// normally (no failed save, no 500); the session both sides read is what
// it was.
func TestInteropHostileKeysRefused(t *testing.T) {
	needNode(t)
	for _, p := range allPairings() {
		t.Run(p.label(), func(t *testing.T) {
			apps := p.start(t)
			node, m, goBase := apps.node, apps.m, apps.goBase
			srv := httptest.NewServer(m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s := nodesession.FromContext(r.Context())
				for _, h := range hostileValues(t) {
					if err := s.Set(h.key, h.value); !errors.Is(err, nodesession.ErrKey) {
						t.Errorf("%s: Set = %v, want ErrKey", h.name, err)
					}
				}
				writeJSON(w, map[string]any{"ok": true})
			})))
			t.Cleanup(srv.Close)

			c := newClient(t)
			c.get(node.base, "/login?user=alice")
			before := c.session(node.base)
			c.get(srv.URL, "/")
			after := c.session(node.base)
			sameView(t, "Node's view before and after the refused Sets", before, after)
			sameView(t, "Node and Go after the refused Sets", after, c.session(goBase))
			if s := node.stderr.String(); strings.Contains(s, "app error") || strings.Contains(s, "unhandled") {
				t.Fatalf("the Node app threw:\n%s", s)
			}
		})
	}
}
