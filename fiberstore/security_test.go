package fiberstore_test

// The security suite of issue 4 through fiber v3's session middleware on
// fiberstore, against the real server, with a cookie jar: session IDs, the
// dump test (HashIDs and EncryptionKeys), encryption (rotation, a moved
// ciphertext), hostile cookies (with a command monitor on every filter
// sent) and the log test (the store's logger, OnError, fiber's own log and
// every error reaching the app).

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
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v3"
	fiberlog "github.com/gofiber/fiber/v3/log"
	"github.com/gofiber/fiber/v3/middleware/recover"
	"github.com/gofiber/fiber/v3/middleware/session"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/fiberstore"
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

// secEnv is a store on the test server whose client records every
// command, whose logger (Debug) and OnError capture everything, beside a
// client of the test's own on the same collection.
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
	opts.Logger = slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.OnError = e.onError.add
	e.ms = newStore(t, opts)
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

// secApp is a fiber app with recover and fiber's session middleware on
// storage (fiber's own default configuration otherwise):
//
//	/set/:k/:v  stores v under k, answers "ok"
//	/get/:k     answers the string under k
//	/logout     destroys the session
//
// errs receives every error that reaches the app's error handler.
func secApp(storage fiber.Storage, errs *secText) *fiber.App {
	app := fiber.New(fiber.Config{ErrorHandler: func(c fiber.Ctx, err error) error {
		errs.add(err)
		return fiber.DefaultErrorHandler(c, err)
	}})
	app.Use(recover.New())
	app.Use(session.New(session.Config{Storage: storage}))
	app.Get("/set/:k/:v", func(c fiber.Ctx) error {
		session.FromContext(c).Set(c.Params("k"), c.Params("v"))
		return c.SendString("ok")
	})
	app.Get("/get/:k", func(c fiber.Ctx) error {
		v, _ := session.FromContext(c).Get(c.Params("k")).(string)
		return c.SendString(v)
	})
	app.Get("/logout", func(c fiber.Ctx) error {
		if err := session.FromContext(c).Destroy(); err != nil {
			return err
		}
		return c.SendString("ok")
	})
	return app
}

// secProbe sends one request from a new browser whose Cookie header is
// written as given, and returns the status, the body and the session ID
// the app gave it. fasthttp refuses a header holding control bytes before
// fiber sees the request (a real client gets a 400), and so does it a
// header longer than its 4 KiB read buffer (431); the probe then reports
// refused, and fails the test on any other transport error.
func secProbe(t *testing.T, app *fiber.App, path, cookie string) (code int, body, id string, refused bool) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "http://example.com"+path, nil)
	req.Header.Set("Cookie", cookieName+"="+cookie)
	resp, err := app.Test(req, fiber.TestConfig{Timeout: 20 * time.Second})
	if err != nil {
		if strings.Contains(err.Error(), "invalid header value") || strings.Contains(err.Error(), "small read buffer") {
			return 0, "", "", true
		}
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range resp.Cookies() {
		if c.Name == cookieName {
			id = c.Value
		}
	}
	return resp.StatusCode, string(b), id, false
}

// secUnsendable reports whether fasthttp refuses a Cookie header holding
// v: a control byte (Go's client turns CR and LF into spaces) or more
// than its 4 KiB read buffer holds.
func secUnsendable(v string) bool {
	if len(v) > 4000 {
		return true
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < 0x20 && c != '\r' && c != '\n' && c != '\t' || c == 0x7f {
			return true
		}
	}
	return false
}

// secFaceErrors returns the errors of errs other than fasthttp's refusals
// of malformed or oversized requests, which reach the app's error handler
// before any middleware runs.
func secFaceErrors(errs *secText) []error {
	var out []error
	for _, err := range errs.all() {
		var fe *fiber.Error
		if strings.HasPrefix(err.Error(), "error when reading request headers") ||
			errors.As(err, &fe) && fe.Code == fiber.StatusRequestHeaderFieldsTooLarge {
			continue
		}
		out = append(out, err)
	}
	return out
}

func TestSecurityIDs(t *testing.T) {
	// The generator fiber's session middleware uses when Config.KeyGenerator
	// is not set, as in every app of this test file.
	ids := make([]string, 10000)
	for i := range ids {
		ids[i] = session.ConfigDefault.KeyGenerator()
	}
	secCheckIDs(t, "session.ConfigDefault.KeyGenerator", ids)

	// IDs issued through the middleware, stored under their hash.
	e := newSecEnv(t, mongosession.Options{HashIDs: true})
	var appErrs secText
	app := secApp(fiberstore.New(e.ms), &appErrs)
	var issued []string
	for range 48 {
		b := newBrowser(t, app)
		b.expect("/set/n/1", "ok")
		issued = append(issued, b.sessionID())
	}
	secCheckIDs(t, "IDs issued by the middleware", issued)
	for _, id := range issued {
		n, err := e.raw.CountDocuments(context.Background(), bson.D{{Key: "_id", Value: mongosession.HashID(id)}})
		if err != nil || n != 1 {
			t.Fatalf("%d documents under the hash of an issued ID (%v); want 1", n, err)
		}
	}
	if errs := secFaceErrors(&appErrs); len(errs) != 0 {
		t.Fatalf("errors reached the app: %v", errs)
	}
}

func TestSecurityDump(t *testing.T) {
	e := newSecEnv(t, mongosession.Options{HashIDs: true, EncryptionKeys: [][]byte{secKey(1)}})
	var appErrs secText
	app := secApp(fiberstore.New(e.ms), &appErrs)
	var victims []*browser
	var plaintexts []string
	for i := range 3 {
		b := newBrowser(t, app)
		secret := fmt.Sprintf("alice%d-at-example.com", i)
		b.expect("/set/secEmail/"+secret, "ok")
		b.expect("/set/secRole/superuser", "ok")
		victims = append(victims, b)
		plaintexts = append(plaintexts, secret, b.sessionID())
	}
	plaintexts = append(plaintexts, "secEmail", "secRole", "superuser")

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
	delivered := 0
	for i, c := range candidates {
		code, body, id, refused := secProbe(t, app, "/get/secEmail", c)
		if refused {
			if !secUnsendable(c) {
				t.Fatalf("stored value %d: refused by the HTTP server; want it delivered to the face", i)
			}
			continue // bytes no HTTP request can carry to fiber
		}
		delivered++
		if code != http.StatusOK || body != "" || id == c {
			t.Fatalf("stored value %d as a cookie: %d %q (session ID reused: %v); want 200 and a fresh session", i, code, body, id == c)
		}
	}
	if delivered < len(docs) {
		t.Fatalf("only %d of %d stored values could be sent as a cookie; want at least every _id", delivered, len(candidates))
	}
	for i, b := range victims {
		b.expect("/get/secEmail", fmt.Sprintf("alice%d-at-example.com", i))
	}
	if errs := secFaceErrors(&appErrs); len(errs) != 0 {
		t.Fatalf("errors reached the app: %v", errs)
	}
}

func TestSecurityEncryptionRotation(t *testing.T) {
	k1, k2 := secKey(1), secKey(2)
	old := newSecEnv(t, mongosession.Options{HashIDs: true, EncryptionKeys: [][]byte{k1}})
	rotated := newSecEnv(t, mongosession.Options{Collection: old.coll, HashIDs: true, EncryptionKeys: [][]byte{k2, k1}})
	newOnly := newSecEnv(t, mongosession.Options{Collection: old.coll, HashIDs: true, EncryptionKeys: [][]byte{k2}})
	var appErrs secText
	app := func(e *secEnv) *fiber.App { return secApp(fiberstore.New(e.ms), &appErrs) }

	b := newBrowser(t, app(old))
	b.expect("/set/secEmail/written-under-k1", "ok")
	b.app = app(rotated)
	b.expect("/get/secEmail", "written-under-k1") // the old key still decrypts
	b.expect("/set/secEmail/written-under-k2", "ok")
	b.app = app(newOnly)
	b.expect("/get/secEmail", "written-under-k2") // the new write used the new key
	if newOnly.onError.hasCorrupt() {
		t.Fatalf("the store with only the new key reported %v", newOnly.onError.all())
	}
	b.app = app(old)
	b.expect("/get/secEmail", "") // the retired key alone reads nothing: a fresh session
	if !old.onError.hasCorrupt() {
		t.Fatalf("OnError of the store with only the retired key got %v; want ErrCorrupt", old.onError.all())
	}
	if errs := secFaceErrors(&appErrs); len(errs) != 0 {
		t.Fatalf("errors reached the app: %v", errs)
	}
}

func TestSecurityMovedCiphertext(t *testing.T) {
	ctx := context.Background()
	e := newSecEnv(t, mongosession.Options{HashIDs: true, EncryptionKeys: [][]byte{secKey(1)}})
	var appErrs secText
	app := secApp(fiberstore.New(e.ms), &appErrs)
	victim, attacker := newBrowser(t, app), newBrowser(t, app)
	victim.expect("/set/secEmail/victim-at-example.com", "ok")
	attacker.expect("/set/secEmail/attacker-at-example.com", "ok")
	victimID, attackerID := mongosession.HashID(victim.sessionID()), mongosession.HashID(attacker.sessionID())

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
	attacker.expect("/get/secEmail", "") // not the victim's data, not a 500: a fresh session
	if !e.onError.hasCorrupt() {
		t.Fatalf("OnError got %v; want ErrCorrupt", e.onError.all())
	}
	victim.expect("/get/secEmail", "victim-at-example.com")

	flipped := bytes.Clone(ct)
	flipped[len(flipped)-1] ^= 1
	setSession(victimID, flipped)
	victim.expect("/get/secEmail", "")
	attacker.expect("/set/secEmail/again", "ok")
	if errs := secFaceErrors(&appErrs); len(errs) != 0 {
		t.Fatalf("errors reached the app: %v", errs)
	}
}

func TestSecurityInjection(t *testing.T) {
	hostile := append(storetest.HostileTokens(),
		`{"$gt":""}`, `{"$ne":null}`, `$where`, "_id", "session", "expires", "a.b", "__proto__", "__proto__.admin",
		"tok\x00en", strings.Repeat("A", 3000), "\xc0\xaf", strings.Repeat("A", 43), strings.Repeat("-", 43))
	for _, hashed := range []bool{false, true} {
		t.Run(fmt.Sprintf("HashIDs=%v", hashed), func(t *testing.T) {
			e := newSecEnv(t, mongosession.Options{HashIDs: hashed})
			var appErrs secText
			app := secApp(fiberstore.New(e.ms), &appErrs)
			victim := newBrowser(t, app)
			victim.expect("/set/secEmail/victim-at-example.com", "ok")
			victimID := victim.sessionID()
			e.mon.take()

			hostileSet := map[string]bool{}
			for i, h := range hostile {
				hostileSet[h], hostileSet[mongosession.HashID(h)] = true, true
				for path, want := range map[string]string{"/get/secEmail": "", "/set/secEmail/mine": "ok"} {
					code, body, id, refused := secProbe(t, app, path, h)
					if refused {
						if !secUnsendable(h) {
							t.Fatalf("hostile token %d (%.40q) on %s: refused by the HTTP server; want it delivered to the face", i, h, path)
						}
						continue
					}
					if code != http.StatusOK || body != want || id == h {
						t.Fatalf("hostile token %d (%.40q) on %s: %d %q (ID adopted: %v); want 200 %q and a fresh session",
							i, h, path, code, body, id == h, want)
					}
				}
			}
			ids := secCheckCommands(t, e.mon.take())
			sent := 0
			for _, id := range ids {
				if hostileSet[id] {
					sent++
				}
			}
			if sent == 0 {
				t.Fatal("no hostile token reached the database: the filter check proves nothing")
			}
			for _, d := range e.dump(t) {
				if id := d.Lookup("_id").StringValue(); hostileSet[id] || len(id) != 43 {
					t.Fatalf("a session is stored under %.60q", id)
				}
			}
			victim.expect("/get/secEmail", "victim-at-example.com")
			if victim.sessionID() != victimID {
				t.Fatal("the victim's session changed ID")
			}
			if errs := secFaceErrors(&appErrs); len(errs) != 0 {
				t.Fatalf("errors reached the app: %v", errs)
			}
		})
	}
}

// secFiberLog sends fiber's own log (where the session middleware reports
// save errors) to w until the test ends.
func secFiberLog(t *testing.T, w *secText) {
	fiberlog.SetOutput(w)
	t.Cleanup(func() { fiberlog.SetOutput(os.Stderr) })
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
			var appErrs, framework secText
			secFiberLog(t, &framework)
			app := secApp(fiberstore.New(e.ms), &appErrs)
			var issued []string
			visit := func(b *browser, path string) int {
				t.Helper()
				code, _ := b.get(path)
				if id := b.sessionID(); id != "" {
					issued = append(issued, id)
				}
				return code
			}
			user, other := newBrowser(t, app), newBrowser(t, app)

			// Login, changes, logout, login again.
			for _, path := range []string{"/set/user/ann", "/set/cart/apple", "/get/user", "/logout", "/set/user/ann"} {
				if code := visit(user, path); code != http.StatusOK {
					t.Fatalf("GET %s: %d", path, code)
				}
			}
			// A document the engine cannot read.
			visit(other, "/set/user/bob")
			stored, _ := e.ms.StoredID(other.sessionID())
			if _, err := e.raw.UpdateOne(ctx, bson.D{{Key: "_id", Value: stored}},
				bson.D{{Key: "$set", Value: bson.D{{Key: "session", Value: "not binary"}}}}); err != nil {
				t.Fatal(err)
			}
			if code := visit(other, "/get/user"); code != http.StatusOK {
				t.Fatalf("a corrupt document: %d; want 200 and a fresh session", code)
			}
			// Hostile cookies, then the store goes away mid-run.
			for _, h := range []string{"$where", strings.Repeat("A", 43)} {
				if _, _, id, _ := secProbe(t, app, "/get/user", h); id != "" {
					issued = append(issued, id)
				}
			}
			if err := e.ms.Close(); err != nil {
				t.Fatal(err)
			}
			for _, path := range []string{"/get/user", "/set/user/carl"} {
				if code := visit(user, path); code != http.StatusInternalServerError {
					t.Fatalf("GET %s with the store closed: %d; want 500", path, code)
				}
			}
			if code := visit(newBrowser(t, app), "/set/user/dan"); code != http.StatusInternalServerError {
				t.Fatalf("a new session with the store closed: %d; want 500", code)
			}

			if len(issued) < 8 || !e.onError.hasCorrupt() || len(appErrs.all()) < 2 || e.logs.String() == "" || framework.String() == "" {
				t.Fatalf("the scenario produced too little to check: %d tokens, OnError %v, app errors %v, store log %q, fiber log %q",
					len(issued), e.onError.all(), appErrs.all(), e.logs.String(), framework.String())
			}
			texts := []string{e.logs.String(), framework.String()}
			for _, err := range append(e.onError.all(), appErrs.all()...) {
				texts = append(texts, err.Error())
			}
			for _, text := range texts {
				for _, tok := range issued {
					if strings.Contains(text, tok) {
						t.Errorf("a token appears in:\n%s", text)
					}
				}
			}
		})
	}
}
