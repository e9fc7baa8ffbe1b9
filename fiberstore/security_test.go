package fiberstore_test

// The security suite of issue 4 through fiber v3's session middleware on
// fiberstore, against the real server, with a cookie jar: session IDs, the
// dump test (default hashed IDs and EncryptionKeys), encryption (rotation, a moved
// ciphertext), hostile cookies (with a command monitor on every filter
// sent) and the log test (the store's logger, OnError, fiber's own log and
// every error reaching the app).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v3"
	fiberlog "github.com/gofiber/fiber/v3/log"
	"github.com/gofiber/fiber/v3/middleware/recover"
	"github.com/gofiber/fiber/v3/middleware/session"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/fiberstore"
	"github.com/mongosession/mongosession/internal/securitytest"
	"github.com/mongosession/mongosession/internal/storetest"
)

// newSecEnv is securitytest.NewEnv with the commands New sent taken off
// the monitor.
func newSecEnv(t *testing.T, opts mongosession.Options) *securitytest.Env {
	t.Helper()
	e := securitytest.NewEnv(t, opts)
	e.Monitor.Take()
	return e
}

// secApp is a fiber app with recover and fiber's session middleware on
// storage (fiber's own default configuration otherwise):
//
//	/set/:k/:v  stores v under k, answers "ok"
//	/get/:k     answers the string under k
//	/logout     destroys the session
//
// errs receives every error that reaches the app's error handler.
func secApp(storage fiber.Storage, errs *securitytest.Text) *fiber.App {
	app := fiber.New(fiber.Config{ErrorHandler: func(c fiber.Ctx, err error) error {
		errs.Add(err)
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
func secFaceErrors(errs *securitytest.Text) []error {
	var out []error
	for _, err := range errs.All() {
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
	securitytest.CheckIDs(t, "session.ConfigDefault.KeyGenerator", ids)

	// IDs issued through the middleware, stored under their hash.
	e := newSecEnv(t, mongosession.Options{})
	var appErrs securitytest.Text
	app := secApp(fiberstore.New(e.Store), &appErrs)
	var issued []string
	for range 48 {
		b := newBrowser(t, app)
		b.expect("/set/n/1", "ok")
		issued = append(issued, b.sessionID())
	}
	securitytest.CheckIDs(t, "IDs issued by the middleware", issued)
	for _, id := range issued {
		n, err := e.Raw.CountDocuments(context.Background(), bson.D{{Key: "_id", Value: mongosession.HashID(id)}})
		if err != nil || n != 1 {
			t.Fatalf("%d documents under the hash of an issued ID (%v); want 1", n, err)
		}
	}
	if errs := secFaceErrors(&appErrs); len(errs) != 0 {
		t.Fatalf("errors reached the app: %v", errs)
	}
}

func TestSecurityDump(t *testing.T) {
	e := newSecEnv(t, mongosession.Options{EncryptionKeys: [][]byte{securitytest.Key(1)}})
	var appErrs securitytest.Text
	app := secApp(fiberstore.New(e.Store), &appErrs)
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

	docs := e.Dump(t)
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
		candidates = append(candidates, securitytest.Stored(d)...)
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
	k1, k2 := securitytest.Key(1), securitytest.Key(2)
	old := newSecEnv(t, mongosession.Options{EncryptionKeys: [][]byte{k1}})
	rotated := newSecEnv(t, mongosession.Options{Collection: old.Coll, EncryptionKeys: [][]byte{k2, k1}})
	newOnly := newSecEnv(t, mongosession.Options{Collection: old.Coll, EncryptionKeys: [][]byte{k2}})
	var appErrs securitytest.Text
	app := func(e *securitytest.Env) *fiber.App { return secApp(fiberstore.New(e.Store), &appErrs) }

	b := newBrowser(t, app(old))
	b.expect("/set/secEmail/written-under-k1", "ok")
	b.app = app(rotated)
	b.expect("/get/secEmail", "written-under-k1") // the old key still decrypts
	b.expect("/set/secEmail/written-under-k2", "ok")
	b.app = app(newOnly)
	b.expect("/get/secEmail", "written-under-k2") // the new write used the new key
	if newOnly.OnError.HasCorrupt() {
		t.Fatalf("the store with only the new key reported %v", newOnly.OnError.All())
	}
	b.app = app(old)
	b.expect("/get/secEmail", "") // the retired key alone reads nothing: a fresh session
	if !old.OnError.HasCorrupt() {
		t.Fatalf("OnError of the store with only the retired key got %v; want ErrCorrupt", old.OnError.All())
	}
	if errs := secFaceErrors(&appErrs); len(errs) != 0 {
		t.Fatalf("errors reached the app: %v", errs)
	}
}

func TestSecurityMovedCiphertext(t *testing.T) {
	e := newSecEnv(t, mongosession.Options{EncryptionKeys: [][]byte{securitytest.Key(1)}})
	var appErrs securitytest.Text
	app := secApp(fiberstore.New(e.Store), &appErrs)
	victim, attacker := newBrowser(t, app), newBrowser(t, app)
	victim.expect("/set/secEmail/victim-at-example.com", "ok")
	attacker.expect("/set/secEmail/attacker-at-example.com", "ok")
	victimID, attackerID := mongosession.HashID(victim.sessionID()), mongosession.HashID(attacker.sessionID())

	stored := e.Session(t, victimID)
	sub, ct := stored.Subtype, stored.Data
	setSession := func(id string, data []byte) {
		t.Helper()
		e.SetSession(t, id, bson.Binary{Subtype: sub, Data: data})
	}
	setSession(attackerID, ct)
	attacker.expect("/get/secEmail", "") // not the victim's data, not a 500: a fresh session
	if !e.OnError.HasCorrupt() {
		t.Fatalf("OnError got %v; want ErrCorrupt", e.OnError.All())
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
		t.Run(fmt.Sprintf("hashed=%v", hashed), func(t *testing.T) {
			e := newSecEnv(t, mongosession.Options{PlainIDs: !hashed})
			var appErrs securitytest.Text
			app := secApp(fiberstore.New(e.Store), &appErrs)
			victim := newBrowser(t, app)
			victim.expect("/set/secEmail/victim-at-example.com", "ok")
			victimID := victim.sessionID()
			e.Monitor.Take()

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
			ids := securitytest.CheckCommands(t, e.Monitor.Take())
			sent := 0
			for _, id := range ids {
				if hostileSet[id] {
					sent++
				}
			}
			if sent == 0 {
				t.Fatal("no hostile token reached the database: the filter check proves nothing")
			}
			for _, d := range e.Dump(t) {
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
func secFiberLog(t *testing.T, w *securitytest.Text) {
	fiberlog.SetOutput(w)
	t.Cleanup(func() { fiberlog.SetOutput(os.Stderr) })
}

func TestSecurityTokensNeverLogged(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts mongosession.Options
	}{
		{"plain IDs", mongosession.Options{}},
		{"hashed IDs, encrypted", mongosession.Options{EncryptionKeys: [][]byte{securitytest.Key(7)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			e := newSecEnv(t, tc.opts)
			var appErrs, framework securitytest.Text
			secFiberLog(t, &framework)
			app := secApp(fiberstore.New(e.Store), &appErrs)
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
			stored, _ := e.Store.Backend().StoredID(other.sessionID())
			if _, err := e.Raw.UpdateOne(ctx, bson.D{{Key: "_id", Value: stored}},
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
			if err := e.Store.Close(); err != nil {
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

			if len(issued) < 8 || !e.OnError.HasCorrupt() || len(appErrs.All()) < 2 || e.Logs.String() == "" || framework.String() == "" {
				t.Fatalf("the scenario produced too little to check: %d tokens, OnError %v, app errors %v, store log %q, fiber log %q",
					len(issued), e.OnError.All(), appErrs.All(), e.Logs.String(), framework.String())
			}
			texts := []string{e.Logs.String(), framework.String()}
			for _, err := range append(e.OnError.All(), appErrs.All()...) {
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
