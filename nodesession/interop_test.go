package nodesession_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/mongotest"
	"github.com/mongosession/mongosession/nodesession"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// nodeDir holds the Node test apps; .ci/setup-node installs their packages.
var nodeDir, _ = filepath.Abs(filepath.Join("testdata", "node"))

// needNode skips the test when node or the installed packages are missing.
func needNode(t *testing.T) string {
	t.Helper()
	bin, err := findNode()
	if err != nil {
		t.Skip(err.Error())
	}
	return bin
}

// findNode returns the node binary, or why the Node apps cannot run.
func findNode() (string, error) {
	bin, err := exec.LookPath("node")
	if err != nil {
		return "", errors.New("node is not installed: the interop tests need Node 20+ (CI runs .ci/setup-node)")
	}
	for _, p := range []string{"express-session", "connect-mongodb-session", "connect-mongo", "koa-generic-session", "koa", "express"} {
		if _, err := os.Stat(filepath.Join(nodeDir, "node_modules", p, "package.json")); err != nil {
			return "", fmt.Errorf("Node package %s is not installed in %s: run .ci/setup-node (npm ci)", p, nodeDir)
		}
	}
	return bin, nil
}

// nodeApp is a running testdata/node/app.js.
type nodeApp struct {
	base   string
	stderr *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startNode runs app.js for pairing on coll with secrets, until the test ends.
func startNode(t *testing.T, pairing, coll string, secrets []string, env ...string) *nodeApp {
	t.Helper()
	bin := needNode(t)
	sj, _ := json.Marshal(secrets)
	cmd := exec.Command(bin, "app.js")
	cmd.Dir = nodeDir
	cmd.Env = append(os.Environ(), "PAIRING="+pairing, "MONGODB_URI="+mongotest.URI(t), "DB="+mongotest.Database,
		"COLLECTION="+coll, "SECRETS="+string(sj), "NODE_ENV=test")
	cmd.Env = append(cmd.Env, env...)
	app := &nodeApp{stderr: &syncBuffer{}}
	cmd.Stderr = app.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("node %s stderr:\n%s", pairing, app.stderr.String())
		}
	})
	port := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "PORT "); ok {
				port <- p
			}
		}
	}()
	select {
	case p := <-port:
		app.base = "http://127.0.0.1:" + p
	case <-done:
		t.Fatalf("node app %s exited: %s", pairing, app.stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("node app %s did not start: %s", pairing, app.stderr.String())
	}
	return app
}

// client is a browser: one cookie jar shared by the Node and Go servers,
// both on 127.0.0.1 (cookies ignore ports).
type client struct {
	t   *testing.T
	hc  *http.Client
	jar *cookiejar.Jar
}

func newClient(t *testing.T) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, jar: jar, hc: &http.Client{Jar: jar, Timeout: 20 * time.Second}}
}

// get fetches base+path and decodes the JSON answer; it fails the test
// unless the status is 200.
func (c *client) get(base, path string) map[string]any {
	c.t.Helper()
	res, err := c.hc.Get(base + path)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		c.t.Fatalf("GET %s: %d %s", path, res.StatusCode, body)
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var out map[string]any
	if err := d.Decode(&out); err != nil {
		c.t.Fatalf("GET %s: %v in %s", path, err, body)
	}
	return out
}

// session returns the "session" view of /whoami.
func (c *client) session(base string) map[string]any {
	c.t.Helper()
	s, _ := c.get(base, "/whoami")["session"].(map[string]any)
	return s
}

// cookie returns the jar's value for name.
func (c *client) cookie(base, name string) string {
	u, _ := url.Parse(base)
	for _, ck := range c.jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

// setCookie replaces the jar's cookie name.
func (c *client) setCookie(base, name, value string) {
	u, _ := url.Parse(base)
	c.jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// goStore opens a mongosession store on coll.
func goStore(t *testing.T, coll string) *mongosession.Store {
	t.Helper()
	st, err := mongosession.New(context.Background(), mongosession.Options{
		URI: mongotest.URI(t), Database: mongotest.Database, Collection: coll,
		AutoRemove: mongosession.AutoRemoveOff, PlainIDs: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// goServer is the Go side: the same routes as app.js, on the Manager.
func goServer(t *testing.T, m *nodesession.Manager) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/whoami", func(w http.ResponseWriter, r *http.Request) {
		s := nodesession.FromContext(r.Context())
		v := map[string]any{}
		for _, k := range s.Keys() {
			x, _ := s.Get(k)
			v[k] = describe(x)
		}
		writeJSON(w, map[string]any{"session": v, "new": s.IsNew()})
	})
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		s := nodesession.FromContext(r.Context())
		for _, kv := range loginValues(r.URL.Query().Get("user")) {
			if err := s.Set(kv.k, kv.v); err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
		}
		writeJSON(w, map[string]any{"ok": true})
	})
	mux.HandleFunc("/set", func(w http.ResponseWriter, r *http.Request) {
		v, err := revive([]byte(r.URL.Query().Get("json")))
		if err == nil {
			err = nodesession.FromContext(r.Context()).Set(r.URL.Query().Get("key"), v)
		}
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		writeJSON(w, map[string]any{"ok": true})
	})
	mux.HandleFunc("/delete", func(w http.ResponseWriter, r *http.Request) {
		if err := nodesession.FromContext(r.Context()).Delete(r.URL.Query().Get("key")); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		writeJSON(w, map[string]any{"ok": true})
	})
	mux.HandleFunc("/rename", func(w http.ResponseWriter, r *http.Request) {
		// The review's case: read the user, change its name, write it back.
		s := nodesession.FromContext(r.Context())
		v, _ := s.Get("user")
		u, ok := v.(map[string]any)
		if !ok {
			http.Error(w, fmt.Sprintf("user is %T", v), 500)
			return
		}
		u["name"] = r.URL.Query().Get("name")
		if err := s.Set("user", u); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		writeJSON(w, map[string]any{"ok": true})
	})
	mux.HandleFunc("/setbson", func(w http.ResponseWriter, r *http.Request) {
		s := nodesession.FromContext(r.Context())
		for _, e := range []kv{{"oid", testOID}, {"uuid", testUUID}, {"bin", bson.Binary{Data: []byte("hi")}}} {
			if err := s.Set(e.k, e.v); err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
		}
		writeJSON(w, map[string]any{"ok": true})
	})
	mux.HandleFunc("/regenerate", func(w http.ResponseWriter, r *http.Request) {
		// A login handled on the Go side: a fresh id, then the user.
		s := nodesession.FromContext(r.Context())
		if err := s.Regenerate(); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		if err := s.Set("user", r.URL.Query().Get("user")); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		writeJSON(w, map[string]any{"ok": true})
	})
	mux.HandleFunc("/logout", func(w http.ResponseWriter, r *http.Request) {
		if err := nodesession.FromContext(r.Context()).Destroy(); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		writeJSON(w, map[string]any{"ok": true})
	})
	srv := httptest.NewServer(m.Handler(mux))
	t.Cleanup(srv.Close)
	return srv.URL
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

type kv struct {
	k string
	v any
}

// loginValues are app.js's login values, set from Go.
func loginValues(user string) []kv {
	return []kv{
		{"user", user}, {"n", 42}, {"pi", 3.141592653589793}, {"big", int64(9007199254740991)},
		{"tiny", 1e-7}, {"neg", -0.5}, {"flag", true}, {"none", nil},
		{"nested", map[string]any{"a": []any{1, 2.5, map[string]any{"b": "x", "c": []any{}}}, "s": "é\u2028<&>\""}},
		{"when", time.UnixMilli(1700000000123)},
	}
}

// describe is app.js's describe: dates as {"$date": ms}.
func describe(v any) any {
	switch x := v.(type) {
	case time.Time:
		return map[string]any{"$date": x.UnixMilli()}
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = describe(e)
		}
		return out
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = describe(e)
		}
		return out
	case float64:
		return json.Number(strconv.FormatFloat(x, 'g', -1, 64))
	}
	return v
}

// revive is app.js's revive: {"$date": ms} becomes a time.Time.
func revive(b []byte) (any, error) {
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	var walk func(any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			if ms, ok := x["$date"].(json.Number); ok && len(x) == 1 {
				n, _ := ms.Int64()
				return time.UnixMilli(n)
			}
			for k, e := range x {
				x[k] = walk(e)
			}
		case []any:
			for i, e := range x {
				x[i] = walk(e)
			}
		}
		return v
	}
	return walk(v), nil
}

// norm makes two views comparable: numbers by value, not by spelling.
func norm(v any) any {
	switch x := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return string(x)
		}
		return f
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = norm(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = norm(e)
		}
		return out
	}
	return v
}

func sameView(t *testing.T, what string, node, goView map[string]any) {
	t.Helper()
	a, _ := json.Marshal(norm(node))
	b, _ := json.Marshal(norm(goView))
	if !bytes.Equal(a, b) {
		t.Fatalf("%s: Node and Go disagree\nnode: %s\ngo:   %s", what, a, b)
	}
}

// wantLogin checks the login values in a view, in the pairing's date form.
func wantLogin(t *testing.T, v map[string]any, user string, jsonDates bool) {
	t.Helper()
	want := map[string]any{}
	for _, e := range loginValues(user) {
		x := e.v
		if tm, ok := x.(time.Time); ok && jsonDates {
			x = tm.UTC().Format("2006-01-02T15:04:05.000Z")
		}
		if tm, ok := x.(time.Time); ok {
			x = map[string]any{"$date": json.Number(strconv.FormatInt(tm.UnixMilli(), 10))}
		}
		b, _ := json.Marshal(x)
		want[e.k], _ = revive(b)
		if m, ok := want[e.k].(time.Time); ok {
			want[e.k] = describe(m)
		}
	}
	got := map[string]any{}
	for k := range want {
		got[k] = v[k]
	}
	sameView(t, "login values", want, got)
}

// pairing describes one Node setup and its Go configuration.
type pairing struct {
	name      string
	cookie    string
	jsonDates bool
	layout    nodesession.Layout
	env       []string
	encrypted bool
}

func (p pairing) scheme(secrets []string) nodesession.CookieScheme {
	if p.name == "koa" {
		return nodesession.KoaCookie{Keys: secrets}
	}
	return nodesession.ExpressCookie{Secrets: secrets, MaxAge: 24 * time.Hour}
}

func (p pairing) manager(t *testing.T, st *mongosession.Store, secrets []string) *nodesession.Manager {
	t.Helper()
	m, err := nodesession.New(nodesession.Options{Store: st, Cookie: p.scheme(secrets), Layout: p.layout})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

var pairings = []pairing{
	{name: "express-cms", cookie: "connect.sid", layout: nodesession.ConnectMongoDBSession{}},
	{name: "express-cm-json", cookie: "connect.sid", jsonDates: true, layout: nodesession.ConnectMongo{}},
	{name: "express-cm-obj", cookie: "connect.sid", layout: nodesession.ConnectMongo{DisableStringify: true}},
	{name: "koa", cookie: "koa.sid", layout: nodesession.KoaGenericSession{}},
}

// The WebCrypto pairings: connect-mongo's createWebCryptoAdapter, both modes.
var cryptoPairings = []pairing{
	{name: "express-cm-json", cookie: "connect.sid", jsonDates: true, encrypted: true,
		layout: nodesession.ConnectMongo{Crypto: &nodesession.WebCrypto{Secret: "crypto secret"}},
		env:    []string{"CRYPTO=webcrypto", "CRYPTO_SECRET=crypto secret"}},
	{name: "express-cm-obj", cookie: "connect.sid", jsonDates: true, encrypted: true,
		// Fewer PBKDF2 iterations here keeps the test lean; the pairing above uses the defaults.
		layout: nodesession.ConnectMongo{DisableStringify: true, Crypto: &nodesession.WebCrypto{Secret: "crypto secret", Iterations: 1000, Encoding: "base64url"}},
		env:    []string{"CRYPTO=webcrypto", "CRYPTO_SECRET=crypto secret", "CRYPTO_ITERATIONS=1000", "CRYPTO_ENCODING=base64url"}},
}

func TestInteropWebCrypto(t *testing.T) {
	needNode(t)
	for _, p := range cryptoPairings {
		t.Run(p.name, func(t *testing.T) { runPairing(t, p) })
	}
}

// TestLegacyKrupteinRefused: a connect-mongo session encrypted with the
// legacy crypto option is refused with ErrLegacyEncryption, whether or not
// the Go side was given a WebCrypto secret.
func TestLegacyKrupteinRefused(t *testing.T) {
	coll := mongotest.Collection(t)
	st := goStore(t, coll)
	node := startNode(t, "express-cm-json", coll, []string{"s"}, "CRYPTO=kruptein", "CRYPTO_SECRET=legacy secret")
	c := newClient(t)
	c.get(node.base, "/login?user=alice")
	if v := c.session(node.base); v["user"] != "alice" {
		t.Fatalf("the kruptein Node app does not work: %v", v)
	}
	for _, layout := range []nodesession.ConnectMongo{{}, {DisableStringify: true}, {Crypto: &nodesession.WebCrypto{Secret: "legacy secret", Iterations: 1000}}} {
		var got error
		m, err := nodesession.New(nodesession.Options{Store: st, Cookie: nodesession.ExpressCookie{Secrets: []string{"s"}}, Layout: layout,
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) { got = err; http.Error(w, "no", 500) }})
		if err != nil {
			t.Fatal(err)
		}
		base := goServer(t, m)
		res, err := c.hc.Get(base + "/whoami")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 500 || !errors.Is(got, nodesession.ErrLegacyEncryption) {
			t.Fatalf("crypto=%v stringify=%v: status %d, error %v; want 500 and ErrLegacyEncryption", layout.Crypto != nil, !layout.DisableStringify, res.StatusCode, got)
		}
	}
}

// TestLegacyKrupteinJSONRefused: kruptein 1 and 2 stored the JSON object
// {"hmac","ct","iv","at"}, which parses as a JSON session: without a
// WebCrypto secret, and with stringify on or off, it is still refused with
// ErrLegacyEncryption, not taken for a session (or a new one). A real
// session whose values happen to be named ct and iv still loads.
func TestLegacyKrupteinJSONRefused(t *testing.T) {
	const kruptein = `{"hmac":"3f1a","ct":"q83vEjRWeJA=","iv":"AAECAwQFBgcICQoL","at":"ZmFrZSB0YWc="}`
	exp := time.Now().Add(time.Hour).UTC()
	cookie := `{"originalMaxAge":3600000,"expires":"` + exp.Format("2006-01-02T15:04:05.000Z") + `","httpOnly":true,"path":"/"}`
	for _, c := range []struct {
		layout  nodesession.ConnectMongo
		session string
		refused bool
	}{
		{nodesession.ConnectMongo{}, kruptein, true},
		{nodesession.ConnectMongo{DisableStringify: true}, kruptein, true},
		{nodesession.ConnectMongo{}, `{"cookie":` + cookie + `,"ct":"x","iv":"y","user":"alice"}`, false},
	} {
		st := goStore(t, mongotest.Collection(t))
		var got error
		m, err := nodesession.New(nodesession.Options{Store: st, Cookie: nodesession.ExpressCookie{Secrets: []string{"s"}}, Layout: c.layout,
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) { got = err; http.Error(w, "no", 500) }})
		if err != nil {
			t.Fatal(err)
		}
		sid := "krupteinjsonkrupteinjsonkruptein"
		if err := insertDoc(t, st, bson.D{{Key: "_id", Value: sid}, {Key: "expires", Value: exp}, {Key: "session", Value: c.session}}); err != nil {
			t.Fatal(err)
		}
		base := goServer(t, m)
		if !c.refused {
			if u := whoamiRaw(t, base, "connect.sid="+url.QueryEscape(expressSign("s", sid))); u != "alice" {
				t.Errorf("a session with values named ct and iv did not load: user %v, error %v", u, got)
			}
			continue
		}
		req, _ := http.NewRequest("GET", base+"/whoami", nil)
		req.Header.Set("Cookie", "connect.sid="+url.QueryEscape(expressSign("s", sid)))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 500 || !errors.Is(got, nodesession.ErrLegacyEncryption) {
			t.Errorf("stringify=%v: status %d, error %v; want 500 and ErrLegacyEncryption", !c.layout.DisableStringify, res.StatusCode, got)
		}
	}
}

func TestInterop(t *testing.T) {
	needNode(t)
	for _, p := range pairings {
		t.Run(p.name, func(t *testing.T) { runPairing(t, p) })
	}
}

func runPairing(t *testing.T, p pairing) {
	coll := mongotest.Collection(t)
	st := goStore(t, coll)
	node := startNode(t, p.name, coll, []string{"old secret"}, p.env...)
	goBase := goServer(t, p.manager(t, st, []string{"old secret"}))

	// Log in on Node, read on Go with the same jar.
	c := newClient(t)
	c.get(node.base, "/login?user=alice")
	nodeView := c.session(node.base)
	wantLogin(t, nodeView, "alice", p.jsonDates)
	goView := c.session(goBase)
	sameView(t, "after Node login", nodeView, goView)

	// Change values on Go, read them on Node.
	c.get(goBase, "/set?key=n&json=43")
	c.get(goBase, "/set?key=nested&json="+url.QueryEscape(`{"a":[1,{"deep":[0.1,-2e-7,1e21]}],"k":"v"}`))
	c.get(goBase, "/set?key=goDate&json="+url.QueryEscape(`{"$date":1700000000999}`))
	c.get(goBase, "/delete?key=flag")
	nodeView = c.session(node.base)
	goView = c.session(goBase)
	sameView(t, "after Go changes", nodeView, goView)
	if n := norm(nodeView["n"]); n != 43.0 {
		t.Fatalf("Node sees n = %v after Go set it to 43", n)
	}
	if _, ok := nodeView["flag"]; ok {
		t.Fatal("Node still sees flag after Go deleted it")
	}
	wantDate := any(map[string]any{"$date": 1700000000999.0})
	if p.jsonDates {
		wantDate = "2023-11-14T22:13:20.999Z"
	}
	if got := norm(nodeView["goDate"]); fmt.Sprint(got) != fmt.Sprint(wantDate) {
		t.Fatalf("Node sees goDate = %v, want %v", got, wantDate)
	}
	if nodeView["user"] != "alice" {
		t.Fatalf("user lost on a Go write: %v", nodeView["user"])
	}
	// A Node write after the Go write, read on Go.
	c.get(node.base, "/set?key=fromNode&json="+url.QueryEscape(`[1,"two",{"$date":5}]`))
	sameView(t, "after a Node write", c.session(node.base), c.session(goBase))
	checkStored(t, st, p, c.cookie(node.base, p.cookie))

	// Log out on Go: both see it gone.
	c.get(goBase, "/logout")
	if v := c.session(node.base); v["user"] != nil {
		t.Fatalf("Node still sees the user after a Go logout: %v", v)
	}
	if v := c.session(goBase); v["user"] != nil {
		t.Fatalf("Go still sees the user after its logout: %v", v)
	}

	// Start a session on Go, read it on Node, log out on Node.
	c2 := newClient(t)
	c2.get(goBase, "/login?user=bob")
	if c2.cookie(goBase, p.cookie) == "" {
		t.Fatal("Go issued no session cookie for a new session")
	}
	nodeView = c2.session(node.base)
	wantLogin(t, nodeView, "bob", p.jsonDates)
	sameView(t, "Go-started session", nodeView, c2.session(goBase))
	checkStored(t, st, p, c2.cookie(goBase, p.cookie))
	c2.get(node.base, "/logout")
	if v := c2.session(goBase); v["user"] != nil {
		t.Fatalf("Go still sees the user after a Node logout: %v", v)
	}
	if v := c2.session(node.base); v["user"] != nil {
		t.Fatalf("Node still sees the user after its logout: %v", v)
	}

	// A tampered cookie is refused on both sides, never a 500.
	c3 := newClient(t)
	c3.get(node.base, "/login?user=carol")
	val := c3.cookie(node.base, p.cookie)
	sigName := p.cookie
	if p.name == "koa" {
		sigName = p.cookie + ".sig"
		val = c3.cookie(node.base, sigName)
	}
	tampered := flipLast(val)
	c3.setCookie(node.base, sigName, tampered)
	if v := c3.session(goBase); v["user"] != nil {
		t.Fatal("Go accepted a tampered cookie")
	}
	c3.setCookie(node.base, sigName, tampered)
	if v := c3.session(node.base); v["user"] != nil {
		t.Fatal("Node accepted a tampered cookie")
	}

	// Rotate the secrets: old cookies still work on both, new cookies are
	// signed with the new first secret.
	c4 := newClient(t)
	c4.get(node.base, "/login?user=dave")
	rotated := []string{"new secret", "old secret"}
	node2 := startNode(t, p.name, coll, rotated, p.env...)
	go2 := goServer(t, p.manager(t, st, rotated))
	if v := c4.session(node2.base); v["user"] != "dave" {
		t.Fatalf("Node with rotated secrets lost the old cookie: %v", v)
	}
	if v := c4.session(go2); v["user"] != "dave" {
		t.Fatalf("Go with rotated secrets lost the old cookie: %v", v)
	}
	c5 := newClient(t)
	c5.get(go2, "/login?user=erin")
	goOnlyNew := goServer(t, p.manager(t, st, []string{"new secret"}))
	if v := c5.session(goOnlyNew); v["user"] != "erin" {
		t.Fatalf("a Go-issued cookie after rotation is not signed with the new first secret: %v", v)
	}
	if v := c5.session(node2.base); v["user"] != "erin" {
		t.Fatalf("Node cannot read a Go session issued after rotation: %v", v)
	}
	c6 := newClient(t)
	c6.get(node2.base, "/login?user=fay")
	if v := c6.session(goOnlyNew); v["user"] != "fay" {
		t.Fatalf("Go (new secret only) cannot read a Node cookie issued after rotation: %v", v)
	}
	if s := node.stderr.String() + node2.stderr.String(); strings.Contains(s, "app error") || strings.Contains(s, "unhandled") {
		t.Fatalf("the Node app threw:\n%s", s)
	}
}

func flipLast(s string) string {
	if s == "" {
		return "x"
	}
	b := []byte(s)
	if b[len(b)-1] == 'A' {
		b[len(b)-1] = 'B'
	} else {
		b[len(b)-1] = 'A'
	}
	return string(b)
}

// checkStored checks the stored document's formats after Go wrote it.
func checkStored(t *testing.T, st *mongosession.Store, p pairing, cookieVal string) {
	t.Helper()
	sid := cookieVal
	if p.name != "koa" {
		sid, _ = url.PathUnescape(cookieVal)
		sid = strings.TrimPrefix(sid, "s:")
		sid = sid[:strings.LastIndex(sid, ".")]
	} else {
		sid = "koa:sess:" + sid
	}
	var raw bson.Raw
	err := st.Backend().Do(context.Background(), "inspect", func(ctx context.Context, c *mongo.Collection) error {
		var err error
		raw, err = c.FindOne(ctx, bson.D{{Key: "_id", Value: sid}}).Raw()
		return err
	})
	if err != nil {
		t.Fatalf("reading the stored session: %v", err)
	}
	if _, ok := raw.Lookup("expires").DateTimeOK(); !ok {
		t.Fatalf("top-level expires is not a date: %s", raw)
	}
	sv := raw.Lookup("session")
	switch {
	case p.encrypted:
		str, ok := sv.StringValueOK()
		if !ok || strings.Contains(str, "alice") || strings.Contains(str, "bob") {
			t.Fatalf("encrypted session is not an opaque string: %s", raw)
		}
	case p.jsonDates:
		str, ok := sv.StringValueOK()
		if !ok || !json.Valid([]byte(str)) {
			t.Fatalf("connect-mongo (stringify) session is not a JSON string: %s", raw)
		}
	default:
		doc, ok := sv.DocumentOK()
		if !ok {
			t.Fatalf("session is not a document: %s", raw)
		}
		if p.name != "koa" {
			if _, ok := doc.Lookup("cookie", "expires").DateTimeOK(); !ok {
				t.Fatalf("session.cookie.expires is not a BSON date: %s", raw)
			}
		}
		if v := doc.Lookup("n"); v.Type != bson.TypeInt32 && v.Type != 0 {
			t.Fatalf("an integer is stored as %s, not int32 as the Node driver writes it", v.Type)
		}
	}
	if p.name == "koa" {
		if s, _ := raw.Lookup("_id").StringValueOK(); !strings.HasPrefix(s, "koa:sess:") {
			t.Fatalf("koa session _id %q lacks the koa:sess: prefix", s)
		}
	}
}
