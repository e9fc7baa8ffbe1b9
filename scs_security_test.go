package mongosession_test

// The security suite of issue 4 through alexedwards/scs v2 (the engine's
// own face: *mongosession.Store is the scs store), against the real server,
// over HTTP with a cookie jar: session tokens, the dump test (HashIDs and
// EncryptionKeys), encryption (rotation, a moved ciphertext), hostile
// cookies (with a command monitor on every filter sent) and the log test
// (the store's logger, OnError, and the standard logger that scs's default
// ErrorFunc writes to).

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/mongotest"
	"github.com/mongosession/mongosession/internal/storetest"
)

// scsSecCheckIDs checks a sample of session IDs: each 256 bits in unpadded,
// canonical base64url (43 characters of A-Z a-z 0-9 - _), no two alike,
// and the bits balanced overall and, for samples of 256 or more, at every
// one of the 256 positions. The bounds are 8 standard deviations: a
// generator from crypto/rand never fails them, a stuck bit, a counter or a
// zeroed half does.
func scsSecCheckIDs(t *testing.T, what string, ids []string) {
	t.Helper()
	if len(ids) == 0 {
		t.Fatalf("%s: no IDs to check", what)
	}
	seen := make(map[string]bool, len(ids))
	var ones [256]int
	total := 0
	for _, id := range ids {
		if len(id) != 43 {
			t.Fatalf("%s: ID %q has %d characters; want 43", what, id, len(id))
		}
		b, err := base64.RawURLEncoding.Strict().DecodeString(id)
		if err != nil || len(b) != 32 {
			t.Fatalf("%s: ID %q is not 32 bytes of canonical unpadded base64url (%v)", what, id, err)
		}
		if seen[id] {
			t.Fatalf("%s: ID %q issued twice in %d", what, id, len(ids))
		}
		seen[id] = true
		for i, c := range b {
			for j := range 8 {
				if c>>j&1 == 1 {
					ones[i*8+j]++
					total++
				}
			}
		}
	}
	n := len(ids)
	bits := float64(n * 256)
	if d := math.Abs(float64(total) - bits/2); d > 8*math.Sqrt(bits)/2 {
		t.Fatalf("%s: %d of %.0f bits set; want about half (off by %.0f)", what, total, bits, d)
	}
	if n >= 256 {
		for p, k := range ones {
			if d := math.Abs(float64(k) - float64(n)/2); d > 8*math.Sqrt(float64(n))/2 {
				t.Fatalf("%s: bit %d is set in %d of %d IDs; want about half", what, p, k, n)
			}
		}
	}
}

// scsSecCommand is one command sent to the collection under test.
type scsSecCommand struct {
	name string
	body bson.Raw
}

// scsSecMonitor records, through an event.CommandMonitor, every command sent
// to one collection.
type scsSecMonitor struct {
	coll string
	mu   sync.Mutex
	cmds []scsSecCommand
}

func (m *scsSecMonitor) started(_ context.Context, e *event.CommandStartedEvent) {
	if s, ok := e.Command.Lookup(e.CommandName).StringValueOK(); !ok || s != m.coll {
		return
	}
	m.mu.Lock()
	m.cmds = append(m.cmds, scsSecCommand{e.CommandName, bytes.Clone(e.Command)})
	m.mu.Unlock()
}

func (m *scsSecMonitor) take() []scsSecCommand {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.cmds
	m.cmds = nil
	return c
}

// scsSecFilters returns the query filters a command carries.
func scsSecFilters(c scsSecCommand) []bson.Raw {
	var out []bson.Raw
	add := func(v bson.RawValue) {
		if d, ok := v.DocumentOK(); ok {
			out = append(out, d)
		}
	}
	each := func(array, field string) {
		vals, _ := c.body.Lookup(array).Array().Values()
		for _, v := range vals {
			add(v.Document().Lookup(field))
		}
	}
	switch c.name {
	case "find":
		add(c.body.Lookup("filter"))
	case "count", "findAndModify":
		add(c.body.Lookup("query"))
	case "update":
		each("updates", "q")
	case "delete":
		each("deletes", "q")
	case "aggregate":
		vals, _ := c.body.Lookup("pipeline").Array().Values()
		for _, v := range vals {
			add(v.Document().Lookup("$match"))
		}
	}
	return out
}

// scsSecCheckFilter returns why f is not a filter the store may send: only
// _id as a string, and the expiry as {$gt: date}. Any other field, any
// operator, an _id that is a document, array or anything but a string, is
// an injection.
func scsSecCheckFilter(f bson.Raw) error {
	elems, err := f.Elements()
	if err != nil {
		return err
	}
	for _, e := range elems {
		k, v := e.Key(), e.Value()
		switch k {
		case "_id":
			if v.Type != bson.TypeString {
				return fmt.Errorf("_id is BSON %s, not a string: %.100s", v.Type, v)
			}
		case mongosession.DefaultExpiresKey:
			d, ok := v.DocumentOK()
			ops, _ := d.Elements()
			if !ok || len(ops) != 1 || ops[0].Key() != "$gt" || ops[0].Value().Type != bson.TypeDateTime {
				return fmt.Errorf("expiry condition %.100s; want {$gt: date}", v)
			}
		default:
			return fmt.Errorf("unexpected filter field %.100q", k)
		}
	}
	return nil
}

// scsSecCheckCommands fails the test unless every filter of cmds passes
// scsSecCheckFilter, and returns the string _id values they looked up.
func scsSecCheckCommands(t *testing.T, cmds []scsSecCommand) []string {
	t.Helper()
	var ids []string
	for _, c := range cmds {
		for _, f := range scsSecFilters(c) {
			if err := scsSecCheckFilter(f); err != nil {
				t.Errorf("%s command with an unsafe filter: %v", c.name, err)
				continue
			}
			if s, ok := f.Lookup("_id").StringValueOK(); ok {
				ids = append(ids, s)
			}
		}
	}
	return ids
}

// scsSecText is a concurrency-safe sink for log output and error strings.
type scsSecText struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	errs []error
}

func (s *scsSecText) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *scsSecText) add(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, err)
}

func (s *scsSecText) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func (s *scsSecText) all() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.errs...)
}

func (s *scsSecText) hasCorrupt() bool {
	for _, err := range s.all() {
		if errors.Is(err, mongosession.ErrCorrupt) {
			return true
		}
	}
	return false
}

// scsSecStored returns every string and byte string in doc, at any depth:
// what an attacker holding a dump would try as a cookie.
func scsSecStored(doc bson.Raw) []string {
	var out []string
	var walk func(v bson.RawValue)
	walk = func(v bson.RawValue) {
		switch v.Type {
		case bson.TypeString:
			out = append(out, v.StringValue())
		case bson.TypeBinary:
			_, b := v.Binary()
			out = append(out, string(b))
		case bson.TypeEmbeddedDocument, bson.TypeArray:
			vals, _ := bson.Raw(v.Value).Values()
			for _, x := range vals {
				walk(x)
			}
		}
	}
	walk(bson.RawValue{Type: bson.TypeEmbeddedDocument, Value: doc})
	return out
}

// scsSecEnv is a store on the test server whose client (passed as
// Options.Client) records every command, whose logger (Debug) and OnError
// capture everything, beside a client of the test's own on the same
// collection.
type scsSecEnv struct {
	s       *mongosession.Store
	coll    string
	mon     *scsSecMonitor
	logs    *scsSecText
	onError *scsSecText
	raw     *mongo.Collection
}

// newSCSSecEnv opens the store; opts.Collection may name the collection of
// another env to share it.
func newSCSSecEnv(t *testing.T, opts mongosession.Options) *scsSecEnv {
	t.Helper()
	if opts.Collection == "" {
		opts.Collection = mongotest.Collection(t)
	}
	e := &scsSecEnv{coll: opts.Collection, mon: &scsSecMonitor{coll: opts.Collection}, logs: &scsSecText{}, onError: &scsSecText{}}
	client, err := mongo.Connect(options.Client().ApplyURI(mongotest.URI(t)).
		SetMonitor(&event.CommandMonitor{Started: e.mon.started}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	own, err := mongo.Connect(options.Client().ApplyURI(mongotest.URI(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = own.Disconnect(context.Background()) })
	e.raw = own.Database(mongotest.Database).Collection(opts.Collection)
	opts.Client = client
	opts.Logger = slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.OnError = e.onError.add
	e.s = newStore(t, opts)
	e.mon.take()
	return e
}

// dump returns every stored document, as a backup would hold them.
func (e *scsSecEnv) dump(t *testing.T) []bson.Raw {
	t.Helper()
	cur, err := e.raw.Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var docs []bson.Raw
	for cur.Next(ctx) {
		docs = append(docs, bytes.Clone(cur.Current))
	}
	if err := cur.Err(); err != nil {
		t.Fatal(err)
	}
	return docs
}

// scsSecApp is an scs app on store:
//
//	/set?k=K&v=V  puts V under K, answers "ok"
//	/get?k=K      answers the string under K
//	/login        renews the token and puts user=ann
//	/logout       destroys the session
//
// With errs, scs's ErrorFunc records every error and answers 500; without,
// scs's default ErrorFunc (the standard logger, 500) is kept.
func scsSecApp(store scs.Store, errs *scsSecText) (*scs.SessionManager, http.Handler) {
	sm := scs.New()
	sm.Store = store
	if errs != nil {
		sm.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) {
			errs.add(err)
			http.Error(w, "session error", http.StatusInternalServerError)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/set", func(w http.ResponseWriter, r *http.Request) {
		sm.Put(r.Context(), r.FormValue("k"), r.FormValue("v"))
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/get", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, sm.GetString(r.Context(), r.FormValue("k")))
	})
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		if err := sm.RenewToken(r.Context()); err != nil {
			http.Error(w, "renew failed", http.StatusInternalServerError)
			return
		}
		sm.Put(r.Context(), "user", "ann")
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/logout", func(w http.ResponseWriter, r *http.Request) {
		if err := sm.Destroy(r.Context()); err != nil {
			http.Error(w, "destroy failed", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "ok")
	})
	return sm, sm.LoadAndSave(mux)
}

// scsSecBrowser is an HTTP client with a cookie jar whose transport
// records the value of every session cookie the server sets.
type scsSecBrowser struct {
	t      *testing.T
	srv    *httptest.Server
	c      *http.Client
	issued *scsSecIssued
}

type scsSecIssued struct {
	mu     sync.Mutex
	values []string
}

func (s *scsSecIssued) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		s.mu.Lock()
		for _, c := range resp.Cookies() {
			if c.Name == "session" && c.Value != "" {
				s.values = append(s.values, c.Value)
			}
		}
		s.mu.Unlock()
	}
	return resp, err
}

func (s *scsSecIssued) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.values...)
}

func newSCSSecServer(t *testing.T, h http.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func newSCSSecBrowser(t *testing.T, srv *httptest.Server, issued *scsSecIssued) *scsSecBrowser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	if issued == nil {
		issued = &scsSecIssued{}
	}
	return &scsSecBrowser{t: t, srv: srv, c: &http.Client{Jar: jar, Transport: issued}, issued: issued}
}

func (b *scsSecBrowser) get(path string) (int, string) {
	b.t.Helper()
	resp, err := b.c.Get(b.srv.URL + path)
	if err != nil {
		b.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func (b *scsSecBrowser) expect(path, want string) {
	b.t.Helper()
	if code, body := b.get(path); code != http.StatusOK || body != want {
		b.t.Fatalf("GET %s = %d %q; want 200 %q", path, code, body, want)
	}
}

func (b *scsSecBrowser) token() string {
	u, _ := url.Parse(b.srv.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == "session" {
			return c.Value
		}
	}
	return ""
}

// scsSecProbe sends one request with a Cookie header written as given
// straight to the handler, and returns the status, body and the token of
// any session cookie set.
func scsSecProbe(h http.Handler, path, cookie string) (int, string, string) {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	r.Header["Cookie"] = []string{"session=" + cookie}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	token := ""
	for _, c := range w.Result().Cookies() {
		if c.Name == "session" {
			token = c.Value
		}
	}
	return w.Code, w.Body.String(), token
}

func TestSCSSecurityTokens(t *testing.T) {
	// scs makes its tokens itself, whatever the store: a large sample
	// through scs's RenewToken on its memstore keeps it off the database.
	sm, _ := scsSecApp(memstore.NewWithCleanupInterval(0), nil)
	tokens := make([]string, 0, 10000)
	h := sm.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for range cap(tokens) {
			if err := sm.RenewToken(r.Context()); err != nil {
				t.Error(err)
				return
			}
			tokens = append(tokens, sm.Token(r.Context()))
		}
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	scsSecCheckIDs(t, "scs tokens", tokens)

	// Tokens issued through scs on the store, each stored under its hash.
	e := newSCSSecEnv(t, mongosession.Options{HashIDs: true})
	var appErrs scsSecText
	_, app := scsSecApp(e.s, &appErrs)
	srv := newSCSSecServer(t, app)
	var issued []string
	for range 48 {
		b := newSCSSecBrowser(t, srv, nil)
		b.expect("/set?k=n&v=1", "ok")
		issued = append(issued, b.token())
	}
	scsSecCheckIDs(t, "tokens issued over HTTP", issued)
	for _, tok := range issued {
		n, err := e.raw.CountDocuments(ctx, bson.D{{Key: "_id", Value: mongosession.HashID(tok)}})
		if err != nil || n != 1 {
			t.Fatalf("%d documents under the hash of an issued token (%v); want 1", n, err)
		}
	}
	if errs := appErrs.all(); len(errs) != 0 {
		t.Fatalf("errors reached the app: %v", errs)
	}
}

func TestSCSSecurityDump(t *testing.T) {
	e := newSCSSecEnv(t, mongosession.Options{HashIDs: true, EncryptionKeys: [][]byte{key(1)}})
	var appErrs scsSecText
	_, app := scsSecApp(e.s, &appErrs)
	srv := newSCSSecServer(t, app)
	var victims []*scsSecBrowser
	plaintexts := []string{"secEmail", "secRole", "superuser"}
	for i := range 3 {
		b := newSCSSecBrowser(t, srv, nil)
		b.expect(fmt.Sprintf("/set?k=secEmail&v=alice%d@example.com", i), "ok")
		b.expect("/set?k=secRole&v=superuser", "ok")
		victims = append(victims, b)
		plaintexts = append(plaintexts, fmt.Sprintf("alice%d@example.com", i), b.token())
	}
	docs := e.dump(t)
	if len(docs) != len(victims) {
		t.Fatalf("%d documents; want %d", len(docs), len(victims))
	}
	var candidates []string
	for _, d := range docs {
		for _, p := range plaintexts {
			if bytes.Contains(d, []byte(p)) {
				t.Fatalf("a stored document holds %q in clear", p)
			}
		}
		candidates = append(candidates, scsSecStored(d)...)
	}
	if len(candidates) < 2*len(docs) {
		t.Fatalf("%d candidates from %d documents; want at least _id and session of each", len(candidates), len(docs))
	}
	e.mon.take()
	for i, c := range candidates {
		code, body, tok := scsSecProbe(app, "/get?k=secEmail", c)
		if code != http.StatusOK || body != "" || tok != "" {
			t.Fatalf("stored value %d as a cookie: %d %q (cookie set: %v); want 200 and no session", i, code, body, tok != "")
		}
	}
	looked := scsSecCheckCommands(t, e.mon.take())
	if len(looked) < len(docs) {
		t.Fatalf("only %d lookups for %d stored values: the stored _ids did not reach the store", len(looked), len(candidates))
	}
	for i, b := range victims {
		b.expect("/get?k=secEmail", fmt.Sprintf("alice%d@example.com", i))
	}
	if errs := appErrs.all(); len(errs) != 0 {
		t.Fatalf("errors reached the app: %v", errs)
	}
}

func TestSCSSecurityEncryptionRotation(t *testing.T) {
	old := newSCSSecEnv(t, mongosession.Options{HashIDs: true, EncryptionKeys: [][]byte{key(1)}})
	rotated := newSCSSecEnv(t, mongosession.Options{Collection: old.coll, HashIDs: true, EncryptionKeys: [][]byte{key(2), key(1)}})
	newOnly := newSCSSecEnv(t, mongosession.Options{Collection: old.coll, HashIDs: true, EncryptionKeys: [][]byte{key(2)}})
	var appErrs scsSecText
	app := func(e *scsSecEnv) http.Handler { _, h := scsSecApp(e.s, &appErrs); return h }

	srv := newSCSSecServer(t, app(old))
	b := newSCSSecBrowser(t, srv, nil)
	b.expect("/set?k=secEmail&v=written-under-k1", "ok")
	srv.Config.Handler = app(rotated)
	b.expect("/get?k=secEmail", "written-under-k1") // the old key still decrypts
	b.expect("/set?k=secEmail&v=written-under-k2", "ok")
	srv.Config.Handler = app(newOnly)
	b.expect("/get?k=secEmail", "written-under-k2") // the new write used the new key
	if newOnly.onError.hasCorrupt() {
		t.Fatalf("the store with only the new key reported %v", newOnly.onError.all())
	}
	srv.Config.Handler = app(old)
	b.expect("/get?k=secEmail", "") // the retired key alone reads nothing: a fresh session
	if !old.onError.hasCorrupt() {
		t.Fatalf("OnError of the store with only the retired key got %v; want ErrCorrupt", old.onError.all())
	}
	if errs := appErrs.all(); len(errs) != 0 {
		t.Fatalf("errors reached the app: %v", errs)
	}
}

func TestSCSSecurityMovedCiphertext(t *testing.T) {
	e := newSCSSecEnv(t, mongosession.Options{HashIDs: true, EncryptionKeys: [][]byte{key(1)}})
	var appErrs scsSecText
	_, app := scsSecApp(e.s, &appErrs)
	srv := newSCSSecServer(t, app)
	victim, attacker := newSCSSecBrowser(t, srv, nil), newSCSSecBrowser(t, srv, nil)
	victim.expect("/set?k=secEmail&v=victim@example.com", "ok")
	attacker.expect("/set?k=secEmail&v=attacker@example.com", "ok")
	victimID, attackerID := mongosession.HashID(victim.token()), mongosession.HashID(attacker.token())

	var doc bson.Raw
	if err := e.raw.FindOne(ctx, bson.D{{Key: "_id", Value: victimID}}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	sub, ct, ok := doc.Lookup("session").BinaryOK()
	if !ok {
		t.Fatal("the stored session is not binary")
	}
	setSession := func(id string, data []byte) {
		t.Helper()
		res, err := e.raw.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "session", Value: bson.Binary{Subtype: sub, Data: data}}}}})
		if err != nil || res.MatchedCount != 1 {
			t.Fatalf("rewriting a document: %v, %v", res, err)
		}
	}
	setSession(attackerID, ct)
	attacker.expect("/get?k=secEmail", "") // not the victim's data, not a 500: a fresh session
	if !e.onError.hasCorrupt() {
		t.Fatalf("OnError got %v; want ErrCorrupt", e.onError.all())
	}
	victim.expect("/get?k=secEmail", "victim@example.com")

	flipped := bytes.Clone(ct)
	flipped[len(flipped)-1] ^= 1
	setSession(victimID, flipped)
	victim.expect("/get?k=secEmail", "")
	attacker.expect("/set?k=secEmail&v=again", "ok")
	if errs := appErrs.all(); len(errs) != 0 {
		t.Fatalf("errors reached the app: %v", errs)
	}
}

func TestSCSSecurityInjection(t *testing.T) {
	hostile := append(storetest.HostileTokens(),
		`{"$gt":""}`, `{$gt:""}`, `$where`, `$ne`, "_id", "session", "expires", "a.b", "$.x", "__proto__", "__proto__.admin",
		"tok\x00en", strings.Repeat("B", 100_000), "\xc0\xaf", strings.Repeat("A", 43), strings.Repeat("-", 43))
	for _, hashed := range []bool{false, true} {
		t.Run(fmt.Sprintf("HashIDs=%v", hashed), func(t *testing.T) {
			e := newSCSSecEnv(t, mongosession.Options{HashIDs: hashed})
			var appErrs scsSecText
			_, app := scsSecApp(e.s, &appErrs)
			srv := newSCSSecServer(t, app)
			victim := newSCSSecBrowser(t, srv, nil)
			victim.expect("/set?k=secEmail&v=victim@example.com", "ok")
			victimToken := victim.token()
			e.mon.take()

			hostileSet := map[string]bool{}
			for i, h := range hostile {
				hostileSet[h], hostileSet[mongosession.HashID(h)] = true, true
				for path, want := range map[string]string{"/get?k=secEmail": "", "/set?k=secEmail&v=mine": "ok"} {
					code, body, tok := scsSecProbe(app, path, h)
					if adopted := h != "" && tok == h; code != http.StatusOK || body != want || adopted {
						t.Fatalf("hostile token %d (%.40q) on %s: %d %q (token adopted: %v); want 200 %q and a fresh session",
							i, h, path, code, body, adopted, want)
					}
				}
			}
			ids := scsSecCheckCommands(t, e.mon.take())
			sent := 0
			for _, id := range ids {
				if hostileSet[id] {
					sent++
				}
			}
			if sent < 5 {
				t.Fatalf("only %d hostile tokens reached the database: the filter check proves little", sent)
			}
			for _, d := range e.dump(t) {
				if id := d.Lookup("_id").StringValue(); hostileSet[id] || len(id) != 43 {
					t.Fatalf("a session is stored under %.60q", id)
				}
			}
			victim.expect("/get?k=secEmail", "victim@example.com")
			if victim.token() != victimToken {
				t.Fatal("the victim's session changed token")
			}
			if errs := appErrs.all(); len(errs) != 0 {
				t.Fatalf("errors reached the app: %v", errs)
			}
		})
	}
}

// scsSecStdLog sends the standard logger, where scs's default ErrorFunc
// writes, to w until the test ends.
func scsSecStdLog(t *testing.T, w io.Writer) {
	log.SetOutput(w)
	t.Cleanup(func() { log.SetOutput(os.Stderr) })
}

func TestSCSSecurityTokensNeverLogged(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts mongosession.Options
	}{
		{"plain tokens", mongosession.Options{}},
		{"hashed tokens, encrypted", mongosession.Options{HashIDs: true, EncryptionKeys: [][]byte{key(7)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newSCSSecEnv(t, tc.opts)
			var stdlog scsSecText
			scsSecStdLog(t, &stdlog)
			_, app := scsSecApp(e.s, nil) // scs's default ErrorFunc
			srv := newSCSSecServer(t, app)
			issued := &scsSecIssued{}
			user, other := newSCSSecBrowser(t, srv, issued), newSCSSecBrowser(t, srv, issued)

			// Login (a token renewed), changes, logout, login again.
			for _, path := range []string{"/set?k=cart&v=apple", "/login", "/set?k=cart&v=pear", "/get?k=user", "/logout", "/login"} {
				if code, body := user.get(path); code != http.StatusOK {
					t.Fatalf("GET %s: %d %s", path, code, body)
				}
			}
			// A document the engine cannot read, then data scs cannot decode.
			other.expect("/set?k=user&v=bob", "ok")
			stored, _ := e.s.StoredID(other.token())
			if _, err := e.raw.UpdateOne(ctx, bson.D{{Key: "_id", Value: stored}},
				bson.D{{Key: "$set", Value: bson.D{{Key: "session", Value: "not binary"}}}}); err != nil {
				t.Fatal(err)
			}
			other.expect("/get?k=user", "")
			other.expect("/set?k=user&v=bob", "ok")
			if err := e.s.CommitCtx(ctx, other.token(), []byte("not scs data"), time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if code, _ := other.get("/get?k=user"); code != http.StatusInternalServerError {
				t.Fatalf("data scs cannot decode: %d; want scs's 500", code)
			}
			// Hostile cookies, then the store goes away mid-run.
			for _, h := range []string{"$where", strings.Repeat("A", 43)} {
				scsSecProbe(app, "/get?k=user", h)
			}
			must(t, e.s.Close())
			for _, path := range []string{"/get?k=user", "/set?k=user&v=carl"} {
				if code, _ := user.get(path); code != http.StatusInternalServerError {
					t.Fatalf("GET %s with the store closed: %d; want 500", path, code)
				}
			}

			tokens := issued.all()
			if len(tokens) < 6 || !e.onError.hasCorrupt() || e.logs.String() == "" || strings.Count(stdlog.String(), "\n") < 3 {
				t.Fatalf("the scenario produced too little to check: %d tokens, OnError %v, store log %q, standard log %q",
					len(tokens), e.onError.all(), e.logs.String(), stdlog.String())
			}
			texts := []string{e.logs.String(), stdlog.String()}
			for _, err := range e.onError.all() {
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
