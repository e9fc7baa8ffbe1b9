package gorillastore_test

// The security suite of issue 4, through the gorilla/sessions face, against
// the real server, over HTTP with a cookie jar: session IDs, the dump test
// (HashIDs and EncryptionKeys; an attacker who also holds the securecookie
// keys), encryption (rotation, a moved ciphertext), hostile cookies (with a
// command monitor on every filter sent) and the log test.

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/gorillastore"
	"github.com/mongosession/mongosession/internal/mongotest"
	"github.com/mongosession/mongosession/internal/storetest"
)

func secKey(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// secCheckIDs checks a sample of session IDs: each 256 bits in unpadded,
// canonical base64url (43 characters of A-Z a-z 0-9 - _), no two alike,
// and the bits balanced overall and, for samples of 256 or more, at every
// one of the 256 positions. The bounds are 8 standard deviations: a
// generator from crypto/rand never fails them, a stuck bit, a counter or a
// zeroed half does.
func secCheckIDs(t *testing.T, what string, ids []string) {
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

// secCommand is one command sent to the collection under test.
type secCommand struct {
	name string
	body bson.Raw
}

// secMonitor records, through an event.CommandMonitor, every command sent
// to one collection.
type secMonitor struct {
	coll string
	mu   sync.Mutex
	cmds []secCommand
}

func (m *secMonitor) started(_ context.Context, e *event.CommandStartedEvent) {
	if s, ok := e.Command.Lookup(e.CommandName).StringValueOK(); !ok || s != m.coll {
		return
	}
	m.mu.Lock()
	m.cmds = append(m.cmds, secCommand{e.CommandName, bytes.Clone(e.Command)})
	m.mu.Unlock()
}

func (m *secMonitor) take() []secCommand {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.cmds
	m.cmds = nil
	return c
}

// secFilters returns the query filters a command carries.
func secFilters(c secCommand) []bson.Raw {
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

// secCheckFilter returns why f is not a filter the store may send: only
// _id as a string, and the expiry as {$gt: date}. Any other field, any
// operator, an _id that is a document, array or anything but a string, is
// an injection.
func secCheckFilter(f bson.Raw) error {
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

// secCheckCommands fails the test unless every filter of cmds passes
// secCheckFilter, and returns the string _id values they looked up.
func secCheckCommands(t *testing.T, cmds []secCommand) []string {
	t.Helper()
	var ids []string
	for _, c := range cmds {
		for _, f := range secFilters(c) {
			if err := secCheckFilter(f); err != nil {
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

// secText is a concurrency-safe sink for log output and error strings.
type secText struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	errs []error
}

func (s *secText) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *secText) add(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, err)
}

func (s *secText) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func (s *secText) all() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.errs...)
}

func (s *secText) hasCorrupt() bool {
	for _, err := range s.all() {
		if errors.Is(err, mongosession.ErrCorrupt) {
			return true
		}
	}
	return false
}

// secEnv is a mongosession store on the test server whose client records
// every command, whose logger captures everything at Debug level and whose
// OnError captures every report, beside a client of the test's own on the
// same collection for reading and writing documents as stored.
type secEnv struct {
	ms      *mongosession.Store
	coll    string
	mon     *secMonitor
	logs    *secText
	onError *secText
	raw     *mongo.Collection
}

// newSecEnv opens the store; opts.Collection may name the collection of
// another secEnv to share it.
func newSecEnv(t *testing.T, opts mongosession.Options) *secEnv {
	t.Helper()
	if opts.Collection == "" {
		opts.Collection = mongotest.Collection(t)
	}
	e := &secEnv{coll: opts.Collection, mon: &secMonitor{coll: opts.Collection}, logs: &secText{}, onError: &secText{}}
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
	opts.Database = mongotest.Database
	opts.Logger = slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.OnError = e.onError.add
	e.ms, err = mongosession.New(context.Background(), opts)
	if err != nil {
		t.Fatalf("mongosession.New: %v", err)
	}
	t.Cleanup(func() {
		_, _ = e.raw.DeleteMany(context.Background(), bson.D{})
		_ = e.ms.Close()
	})
	e.mon.take()
	return e
}

// dump returns every stored document, as a backup would hold them.
func (e *secEnv) dump(t *testing.T) []bson.Raw {
	t.Helper()
	ctx := context.Background()
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

// secStored returns every string and byte string in doc, at any depth:
// what an attacker holding a dump would try as a cookie.
func secStored(doc bson.Raw) []string {
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

// secApp is a net/http application on gs through gorilla's registry:
//
//	/set?k=K&v=V  stores V under K and saves, answers "ok"
//	/get?k=K      answers the string stored under K (no save)
//	/logout       deletes the session (MaxAge -1)
//
// It is strict, as gorilla's documentation examples are: any error of Get
// or Save is recorded in errs and answered with a 500.
func secApp(gs *gorillastore.Store, errs *secText) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := gs.Get(r, cookieName)
		if err == nil {
			switch r.URL.Path {
			case "/set":
				s.Values[r.FormValue("k")] = r.FormValue("v")
				err = sessions.Save(r, w)
			case "/get":
				v, _ := s.Values[r.FormValue("k")].(string)
				_, err = io.WriteString(w, v)
				return
			case "/logout":
				s.Options.MaxAge = -1
				err = s.Save(r, w)
			}
		}
		if err != nil {
			errs.add(err)
			http.Error(w, "session error", http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
}

// secBrowser is an HTTP client with a cookie jar whose transport records
// the value of every session cookie the server sets.
type secBrowser struct {
	t      *testing.T
	srv    *httptest.Server
	c      *http.Client
	issued *secIssued
}

type secIssued struct {
	mu     sync.Mutex
	values []string
}

func (s *secIssued) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		s.mu.Lock()
		for _, c := range resp.Cookies() {
			if c.Name == cookieName && c.Value != "" {
				s.values = append(s.values, c.Value)
			}
		}
		s.mu.Unlock()
	}
	return resp, err
}

func (s *secIssued) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.values...)
}

// newSecServer serves h; its Config.Handler may be swapped between
// requests, as a redeploy would.
func newSecServer(t *testing.T, h http.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func newSecBrowser(t *testing.T, srv *httptest.Server, issued *secIssued) *secBrowser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	if issued == nil {
		issued = &secIssued{}
	}
	return &secBrowser{t: t, srv: srv, c: &http.Client{Jar: jar, Transport: issued}, issued: issued}
}

func (b *secBrowser) get(path string) (int, string) {
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

func (b *secBrowser) expect(path, want string) {
	b.t.Helper()
	if code, body := b.get(path); code != http.StatusOK || body != want {
		b.t.Fatalf("GET %s = %d %q; want 200 %q", path, code, body, want)
	}
}

func (b *secBrowser) cookie() string {
	u, _ := url.Parse(b.srv.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == cookieName {
			return c.Value
		}
	}
	return ""
}

// secProbe sends one request with a Cookie header written as given (no
// client library would send some of these values) straight to the
// handler, and returns the status and body.
func secProbe(h http.Handler, path, cookie string) (int, string) {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	r.Header["Cookie"] = []string{cookieName + "=" + cookie}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code, w.Body.String()
}

// secID returns the session ID a cookie of gs carries.
func secID(t *testing.T, gs *gorillastore.Store, cookie string) string {
	t.Helper()
	if len(gs.Codecs) == 0 {
		return cookie
	}
	var id string
	if err := securecookie.DecodeMulti(cookieName, cookie, &id, gs.Codecs...); err != nil {
		t.Fatalf("the face's own cookie does not decode: %v", err)
	}
	return id
}

func TestSecurityIDs(t *testing.T) {
	// The generator Save gives every new session.
	ids := make([]string, 10000)
	for i := range ids {
		ids[i] = gorillastore.NewID()
	}
	secCheckIDs(t, "gorillastore.NewID", ids)

	// IDs issued through the face, bare and signed, stored under their
	// hash.
	e := newSecEnv(t, mongosession.Options{HashIDs: true})
	bare, signed := gorillastore.New(e.ms), gorillastore.New(e.ms, hashKey, blockKey)
	var issued []string
	var appErrs secText
	for _, gs := range []*gorillastore.Store{bare, signed} {
		srv := newSecServer(t, secApp(gs, &appErrs))
		for range 40 {
			b := newSecBrowser(t, srv, nil)
			b.expect("/set?k=n&v=1", "ok")
			id := secID(t, gs, b.cookie())
			if len(gs.Codecs) > 0 && strings.Contains(b.cookie(), id) {
				t.Fatal("the signed cookie carries the ID in clear")
			}
			issued = append(issued, id)
		}
	}
	secCheckIDs(t, "IDs issued over HTTP", issued)
	if errs := appErrs.all(); len(errs) != 0 {
		t.Fatalf("errors reached the app: %v", errs)
	}
	for _, id := range issued {
		n, err := e.raw.CountDocuments(context.Background(), bson.D{{Key: "_id", Value: mongosession.HashID(id)}})
		if err != nil || n != 1 {
			t.Fatalf("%d documents under the hash of an issued ID (%v); want 1", n, err)
		}
	}
}

func TestSecurityDump(t *testing.T) {
	e := newSecEnv(t, mongosession.Options{HashIDs: true, EncryptionKeys: [][]byte{secKey(1)}})
	signed, bare := gorillastore.New(e.ms, hashKey, blockKey), gorillastore.New(e.ms)
	var appErrs secText
	signedApp, bareApp := secApp(signed, &appErrs), secApp(bare, &appErrs)
	srv := newSecServer(t, signedApp)

	type victim struct {
		b      *secBrowser
		gs     *gorillastore.Store
		secret string
	}
	var victims []victim
	var plaintexts []string
	for i := range 4 {
		gs := signed
		if i == 3 {
			gs = bare
			srv.Config.Handler = bareApp
		}
		v := victim{b: newSecBrowser(t, srv, nil), gs: gs, secret: fmt.Sprintf("alice%d@example.com", i)}
		v.b.expect("/set?k=secEmail&v="+v.secret, "ok")
		v.b.expect("/set?k=secRole&v=superuser-"+fmt.Sprint(i), "ok")
		victims = append(victims, v)
		plaintexts = append(plaintexts, v.secret, "superuser-"+fmt.Sprint(i), "secEmail", "secRole",
			v.b.cookie(), secID(t, gs, v.b.cookie()))
	}
	srv.Config.Handler = signedApp

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
		candidates = append(candidates, secStored(d)...)
	}
	if len(candidates) < 2*len(docs) {
		t.Fatalf("%d candidates from %d documents; want at least _id and session of each", len(candidates), len(docs))
	}
	for i, c := range candidates {
		// The stored value as a cookie, to the signed and the bare app;
		// and signed with the app's own keys, as an attacker holding both
		// the dump and the securecookie keys would.
		type probe struct {
			what, cookie string
			h            http.Handler
		}
		probes := []probe{{"as it is, to the signed app", c, signedApp}, {"as it is, to the bare app", c, bareApp}}
		if forged, err := securecookie.EncodeMulti(cookieName, c, signed.Codecs...); err == nil {
			probes = append(probes, probe{"signed with the app's keys", forged, signedApp})
		} else if i == 0 {
			t.Fatalf("cannot sign the stored _id with the app's keys: %v", err)
		}
		for _, p := range probes {
			code, body := secProbe(p.h, "/get?k=secEmail", p.cookie)
			if code != http.StatusOK || body != "" {
				t.Fatalf("stored value %d %s: %d %q; want 200 and no session", i, p.what, code, body)
			}
		}
	}
	// Controls: the forging method works with a real ID, and the victims'
	// own cookies still work.
	realID := secID(t, signed, victims[0].b.cookie())
	forged, err := securecookie.EncodeMulti(cookieName, realID, signed.Codecs...)
	if err != nil {
		t.Fatal(err)
	}
	if _, body := secProbe(signedApp, "/get?k=secEmail", forged); body != victims[0].secret {
		t.Fatalf("control: a real ID signed with the app's keys read %q; want the victim's session", body)
	}
	for _, v := range victims {
		srv.Config.Handler = secApp(v.gs, &appErrs)
		v.b.expect("/get?k=secEmail", v.secret)
	}
	if errs := appErrs.all(); len(errs) != 0 {
		t.Fatalf("errors reached the app: %v", errs)
	}
}

func TestSecurityEncryptionRotation(t *testing.T) {
	k1, k2 := secKey(1), secKey(2)
	old := newSecEnv(t, mongosession.Options{HashIDs: true, EncryptionKeys: [][]byte{k1}})
	rotated := newSecEnv(t, mongosession.Options{Collection: old.coll, HashIDs: true, EncryptionKeys: [][]byte{k2, k1}})
	newOnly := newSecEnv(t, mongosession.Options{Collection: old.coll, HashIDs: true, EncryptionKeys: [][]byte{k2}})
	var appErrs secText
	app := func(e *secEnv) http.Handler { return secApp(gorillastore.New(e.ms, hashKey), &appErrs) }

	srv := newSecServer(t, app(old))
	b := newSecBrowser(t, srv, nil)
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

func TestSecurityMovedCiphertext(t *testing.T) {
	ctx := context.Background()
	e := newSecEnv(t, mongosession.Options{HashIDs: true, EncryptionKeys: [][]byte{secKey(1)}})
	gs := gorillastore.New(e.ms, hashKey, blockKey)
	var appErrs secText
	srv := newSecServer(t, secApp(gs, &appErrs))
	victim, attacker := newSecBrowser(t, srv, nil), newSecBrowser(t, srv, nil)
	victim.expect("/set?k=secEmail&v=victim@example.com", "ok")
	attacker.expect("/set?k=secEmail&v=attacker@example.com", "ok")
	victimID := mongosession.HashID(secID(t, gs, victim.cookie()))
	attackerID := mongosession.HashID(secID(t, gs, attacker.cookie()))

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

	// A flipped bit in the victim's own ciphertext: also a fresh session.
	flipped := bytes.Clone(ct)
	flipped[len(flipped)-1] ^= 1
	setSession(victimID, flipped)
	victim.expect("/get?k=secEmail", "")
	attacker.expect("/set?k=secEmail&v=again", "ok") // the face goes on serving
	if errs := appErrs.all(); len(errs) != 0 {
		t.Fatalf("errors reached the app: %v", errs)
	}
}

// secHostileTokens is the injection corpus: the conformance suite's
// hostile tokens and more operator-shaped, dotted, prototype, NUL, long,
// invalid UTF-8 and ID-shaped values.
func secHostileTokens() []string {
	return append(storetest.HostileTokens(),
		`{"$gt":""}`, `{"$ne":null}`, `{"$regex":".*"}`, `$where`, `$where: function() { return true }`,
		"_id", "session", "expires", "a.b", "$.x", "__proto__.admin", "__proto__", "prototype",
		"tok\x00en", strings.Repeat("\x00", 43), strings.Repeat("B", 100_000), "\xc0\xaf", "\xed\xa0\x80",
		strings.Repeat("A", 43), strings.Repeat("-", 43), strings.Repeat("_", 42)+"$", strings.Repeat("A", 42)+".",
	)
}

func TestSecurityInjection(t *testing.T) {
	hostile := secHostileTokens()
	for _, tc := range []struct {
		name string
		keys [][]byte
		// forge: sign each hostile value with the app's own keys, as an
		// attacker holding them would, so that it reaches the store.
		forge  bool
		hashed bool
	}{
		{"bare", nil, false, false},
		{"signed", [][]byte{hashKey, blockKey}, false, false},
		{"signed with the keys known", [][]byte{hashKey, blockKey}, true, false},
		{"signed with the keys known, hashed IDs", [][]byte{hashKey, blockKey}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newSecEnv(t, mongosession.Options{HashIDs: tc.hashed})
			gs := gorillastore.New(e.ms, tc.keys...)
			var appErrs secText
			app := secApp(gs, &appErrs)
			srv := newSecServer(t, app)
			victim := newSecBrowser(t, srv, nil)
			victim.expect("/set?k=secEmail&v=victim@example.com", "ok")
			victimID := secID(t, gs, victim.cookie())
			e.mon.take()

			reached := 0
			for i, h := range hostile {
				cookie := h
				if tc.forge {
					enc, err := securecookie.EncodeMulti(cookieName, h, gs.Codecs...)
					if err == nil {
						cookie = enc
						reached++
					}
				}
				for path, want := range map[string]string{"/get?k=secEmail": "", "/set?k=secEmail&v=mine": "ok"} {
					if code, body := secProbe(app, path, cookie); code != http.StatusOK || body != want {
						t.Fatalf("hostile token %d (%.40q) on %s: %d %q; want 200 %q", i, h, path, code, body, want)
					}
				}
			}
			if tc.forge && reached < len(hostile)-2 {
				t.Fatalf("only %d of %d hostile values could be signed; the test proves little", reached, len(hostile))
			}
			ids := secCheckCommands(t, e.mon.take())
			hostileSet := map[string]bool{}
			for _, h := range hostile {
				hostileSet[h] = true
				if tc.hashed {
					hostileSet[mongosession.HashID(h)] = true
				}
			}
			sentHostile := 0
			for _, id := range ids {
				if hostileSet[id] {
					sentHostile++
				}
			}
			if (tc.forge || tc.keys == nil) && sentHostile == 0 {
				t.Fatal("no hostile value reached the database: the filter check proves nothing")
			}
			// Every write went under a fresh ID of the face's own: no
			// hostile value was ever adopted.
			for _, d := range e.dump(t) {
				id := d.Lookup("_id").StringValue()
				if hostileSet[id] || len(id) != gorillastore.IDLength {
					t.Fatalf("a session is stored under %.60q", id)
				}
			}
			victim.expect("/get?k=secEmail", "victim@example.com")
			if secID(t, gs, victim.cookie()) != victimID {
				t.Fatal("the victim's session changed ID")
			}
			if errs := appErrs.all(); len(errs) != 0 {
				t.Fatalf("errors reached the app: %v", errs)
			}
		})
	}
}

func TestSecurityTokensNeverLogged(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts mongosession.Options
	}{
		{"plain IDs", mongosession.Options{}},
		{"hashed IDs, encrypted", mongosession.Options{HashIDs: true, EncryptionKeys: [][]byte{secKey(7)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			e := newSecEnv(t, tc.opts)
			gs := gorillastore.New(e.ms, hashKey, blockKey)
			var appErrs secText
			srv := newSecServer(t, secApp(gs, &appErrs))
			issued := &secIssued{}
			user := newSecBrowser(t, srv, issued)
			other := newSecBrowser(t, srv, issued)

			// Login, changes, logout, login again.
			user.expect("/set?k=user&v=ann", "ok")
			user.expect("/set?k=cart&v=apple", "ok")
			user.expect("/get?k=user", "ann")
			user.expect("/logout", "ok")
			user.expect("/set?k=user&v=ann", "ok")

			// A document the engine cannot read, and one the face cannot.
			other.expect("/set?k=user&v=bob", "ok")
			otherID := secID(t, gs, other.cookie())
			stored, _ := e.ms.StoredID(otherID)
			if _, err := e.raw.UpdateOne(ctx, bson.D{{Key: "_id", Value: stored}},
				bson.D{{Key: "$set", Value: bson.D{{Key: "session", Value: "not binary"}}}}); err != nil {
				t.Fatal(err)
			}
			other.expect("/get?k=user", "")
			other.expect("/set?k=user&v=bob", "ok")
			if err := e.ms.CommitCtx(ctx, secID(t, gs, other.cookie()), []byte("not a gorillastore record"), time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if code, _ := other.get("/get?k=user"); code != http.StatusInternalServerError {
				t.Fatalf("a record the face cannot decode: %d; want the strict app's 500", code)
			}

			// Hostile cookies, then the store goes away mid-run.
			for _, h := range []string{"$where", strings.Repeat("A", 43)} {
				secProbe(srv.Config.Handler, "/get?k=user", h)
			}
			if err := e.ms.Close(); err != nil {
				t.Fatal(err)
			}
			for _, path := range []string{"/get?k=user", "/set?k=user&v=carl"} {
				if code, _ := user.get(path); code != http.StatusInternalServerError {
					t.Fatalf("GET %s with the store closed: %d; want 500", path, code)
				}
			}

			var tokens []string
			for _, c := range issued.all() {
				tokens = append(tokens, c, secID(t, gs, c))
			}
			if len(tokens) < 8 {
				t.Fatalf("only %d tokens issued; the scenario did not run", len(tokens))
			}
			if !e.onError.hasCorrupt() || len(appErrs.all()) < 3 || e.logs.String() == "" {
				t.Fatalf("the scenario produced too little to check: OnError %v, app errors %v, log %q",
					e.onError.all(), appErrs.all(), e.logs.String())
			}
			var texts []string
			texts = append(texts, e.logs.String())
			for _, err := range append(e.onError.all(), appErrs.all()...) {
				texts = append(texts, err.Error())
			}
			for _, text := range texts {
				for _, tok := range tokens {
					if strings.Contains(text, tok) {
						t.Errorf("a token appears in %q", text)
					}
				}
			}
		})
	}
}
