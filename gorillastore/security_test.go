package gorillastore_test

// The security suite of issue 4, through the gorilla/sessions face, against
// the real server, over HTTP with a cookie jar: session IDs, the dump test
// (default hashed IDs and EncryptionKeys; an attacker who also holds the securecookie
// keys), encryption (rotation, a moved ciphertext), hostile cookies (with a
// command monitor on every filter sent) and the log test.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/gorillastore"
	"github.com/mongosession/mongosession/internal/securitytest"
	"github.com/mongosession/mongosession/internal/storetest"
	"github.com/mongosession/mongosession/internal/token"
)

// newSecEnv is securitytest.NewEnv with the commands New sent taken off
// the monitor.
func newSecEnv(t *testing.T, opts mongosession.Options) *securitytest.Env {
	t.Helper()
	e := securitytest.NewEnv(t, opts)
	e.Monitor.Take()
	return e
}

// secApp is a net/http application on gs through gorilla's registry:
//
//	/set?k=K&v=V  stores V under K and saves, answers "ok"
//	/get?k=K      answers the string stored under K (no save)
//	/logout       deletes the session (MaxAge -1)
//
// It is strict, as gorilla's documentation examples are: any error of Get
// or Save is recorded in errs and answered with a 500.
func secApp(gs *gorillastore.Store, errs *securitytest.Text) http.Handler {
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
			errs.Add(err)
			http.Error(w, "session error", http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
}

// newSecBrowser is a browser of srv recording the session cookies it is
// given in issued (its own when nil).
func newSecBrowser(t *testing.T, srv *httptest.Server, issued *securitytest.Issued) *securitytest.Browser {
	return securitytest.NewBrowser(t, srv, cookieName, issued)
}

// secProbe sends one request with a Cookie header written as given (no
// client library would send some of these values) straight to the
// handler, and returns the status and body.
func secProbe(h http.Handler, path, cookie string) (int, string) {
	code, body, _ := securitytest.Probe(h, cookieName, path, cookie)
	return code, body
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
		ids[i] = token.Random(32)
	}
	securitytest.CheckIDs(t, "token.Random(32), gorillastore's ID generator", ids)

	// IDs issued through the face, bare and signed, stored under their
	// hash.
	e := newSecEnv(t, mongosession.Options{})
	bare, signed := gorillastore.New(e.Store), gorillastore.New(e.Store, hashKey, blockKey)
	var issued []string
	var appErrs securitytest.Text
	for _, gs := range []*gorillastore.Store{bare, signed} {
		srv := securitytest.NewServer(t, secApp(gs, &appErrs))
		for range 40 {
			b := newSecBrowser(t, srv, nil)
			b.Expect("/set?k=n&v=1", "ok")
			id := secID(t, gs, b.Cookie())
			if len(gs.Codecs) > 0 && strings.Contains(b.Cookie(), id) {
				t.Fatal("the signed cookie carries the ID in clear")
			}
			issued = append(issued, id)
		}
	}
	securitytest.CheckIDs(t, "IDs issued over HTTP", issued)
	if errs := appErrs.All(); len(errs) != 0 {
		t.Fatalf("errors reached the app: %v", errs)
	}
	for _, id := range issued {
		n, err := e.Raw.CountDocuments(context.Background(), bson.D{{Key: "_id", Value: mongosession.HashID(id)}})
		if err != nil || n != 1 {
			t.Fatalf("%d documents under the hash of an issued ID (%v); want 1", n, err)
		}
	}
}

func TestSecurityDump(t *testing.T) {
	e := newSecEnv(t, mongosession.Options{EncryptionKeys: [][]byte{securitytest.Key(1)}})
	signed, bare := gorillastore.New(e.Store, hashKey, blockKey), gorillastore.New(e.Store)
	var appErrs securitytest.Text
	signedApp, bareApp := secApp(signed, &appErrs), secApp(bare, &appErrs)
	srv := securitytest.NewServer(t, signedApp)

	type victim struct {
		b      *securitytest.Browser
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
		v.b.Expect("/set?k=secEmail&v="+v.secret, "ok")
		v.b.Expect("/set?k=secRole&v=superuser-"+fmt.Sprint(i), "ok")
		victims = append(victims, v)
		plaintexts = append(plaintexts, v.secret, "superuser-"+fmt.Sprint(i), "secEmail", "secRole",
			v.b.Cookie(), secID(t, gs, v.b.Cookie()))
	}
	srv.Config.Handler = signedApp

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
	realID := secID(t, signed, victims[0].b.Cookie())
	forged, err := securecookie.EncodeMulti(cookieName, realID, signed.Codecs...)
	if err != nil {
		t.Fatal(err)
	}
	if _, body := secProbe(signedApp, "/get?k=secEmail", forged); body != victims[0].secret {
		t.Fatalf("control: a real ID signed with the app's keys read %q; want the victim's session", body)
	}
	for _, v := range victims {
		srv.Config.Handler = secApp(v.gs, &appErrs)
		v.b.Expect("/get?k=secEmail", v.secret)
	}
	if errs := appErrs.All(); len(errs) != 0 {
		t.Fatalf("errors reached the app: %v", errs)
	}
}

func TestSecurityEncryptionRotation(t *testing.T) {
	k1, k2 := securitytest.Key(1), securitytest.Key(2)
	old := newSecEnv(t, mongosession.Options{EncryptionKeys: [][]byte{k1}})
	rotated := newSecEnv(t, mongosession.Options{Collection: old.Coll, EncryptionKeys: [][]byte{k2, k1}})
	newOnly := newSecEnv(t, mongosession.Options{Collection: old.Coll, EncryptionKeys: [][]byte{k2}})
	var appErrs securitytest.Text
	app := func(e *securitytest.Env) http.Handler { return secApp(gorillastore.New(e.Store, hashKey), &appErrs) }

	srv := securitytest.NewServer(t, app(old))
	b := newSecBrowser(t, srv, nil)
	b.Expect("/set?k=secEmail&v=written-under-k1", "ok")

	srv.Config.Handler = app(rotated)
	b.Expect("/get?k=secEmail", "written-under-k1") // the old key still decrypts
	b.Expect("/set?k=secEmail&v=written-under-k2", "ok")

	srv.Config.Handler = app(newOnly)
	b.Expect("/get?k=secEmail", "written-under-k2") // the new write used the new key
	if newOnly.OnError.HasCorrupt() {
		t.Fatalf("the store with only the new key reported %v", newOnly.OnError.All())
	}
	srv.Config.Handler = app(old)
	b.Expect("/get?k=secEmail", "") // the retired key alone reads nothing: a fresh session
	if !old.OnError.HasCorrupt() {
		t.Fatalf("OnError of the store with only the retired key got %v; want ErrCorrupt", old.OnError.All())
	}
	if errs := appErrs.All(); len(errs) != 0 {
		t.Fatalf("errors reached the app: %v", errs)
	}
}

func TestSecurityMovedCiphertext(t *testing.T) {
	e := newSecEnv(t, mongosession.Options{EncryptionKeys: [][]byte{securitytest.Key(1)}})
	gs := gorillastore.New(e.Store, hashKey, blockKey)
	var appErrs securitytest.Text
	srv := securitytest.NewServer(t, secApp(gs, &appErrs))
	victim, attacker := newSecBrowser(t, srv, nil), newSecBrowser(t, srv, nil)
	victim.Expect("/set?k=secEmail&v=victim@example.com", "ok")
	attacker.Expect("/set?k=secEmail&v=attacker@example.com", "ok")
	victimID := mongosession.HashID(secID(t, gs, victim.Cookie()))
	attackerID := mongosession.HashID(secID(t, gs, attacker.Cookie()))

	stored := e.Session(t, victimID)
	sub, ct := stored.Subtype, stored.Data
	setSession := func(id string, data []byte) {
		t.Helper()
		e.SetSession(t, id, bson.Binary{Subtype: sub, Data: data})
	}
	setSession(attackerID, ct)
	attacker.Expect("/get?k=secEmail", "") // not the victim's data, not a 500: a fresh session
	if !e.OnError.HasCorrupt() {
		t.Fatalf("OnError got %v; want ErrCorrupt", e.OnError.All())
	}
	victim.Expect("/get?k=secEmail", "victim@example.com")

	// A flipped bit in the victim's own ciphertext: also a fresh session.
	flipped := bytes.Clone(ct)
	flipped[len(flipped)-1] ^= 1
	setSession(victimID, flipped)
	victim.Expect("/get?k=secEmail", "")
	attacker.Expect("/set?k=secEmail&v=again", "ok") // the face goes on serving
	if errs := appErrs.All(); len(errs) != 0 {
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
			e := newSecEnv(t, mongosession.Options{PlainIDs: !tc.hashed})
			gs := gorillastore.New(e.Store, tc.keys...)
			var appErrs securitytest.Text
			app := secApp(gs, &appErrs)
			srv := securitytest.NewServer(t, app)
			victim := newSecBrowser(t, srv, nil)
			victim.Expect("/set?k=secEmail&v=victim@example.com", "ok")
			victimID := secID(t, gs, victim.Cookie())
			e.Monitor.Take()

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
			ids := securitytest.CheckCommands(t, e.Monitor.Take())
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
			for _, d := range e.Dump(t) {
				id := d.Lookup("_id").StringValue()
				if hostileSet[id] || len(id) != token.EncodedLen(32) {
					t.Fatalf("a session is stored under %.60q", id)
				}
			}
			victim.Expect("/get?k=secEmail", "victim@example.com")
			if secID(t, gs, victim.Cookie()) != victimID {
				t.Fatal("the victim's session changed ID")
			}
			if errs := appErrs.All(); len(errs) != 0 {
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
		{"hashed IDs, encrypted", mongosession.Options{EncryptionKeys: [][]byte{securitytest.Key(7)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			e := newSecEnv(t, tc.opts)
			gs := gorillastore.New(e.Store, hashKey, blockKey)
			var appErrs securitytest.Text
			srv := securitytest.NewServer(t, secApp(gs, &appErrs))
			issued := &securitytest.Issued{Name: cookieName}
			user := newSecBrowser(t, srv, issued)
			other := newSecBrowser(t, srv, issued)

			// Login, changes, logout, login again.
			user.Expect("/set?k=user&v=ann", "ok")
			user.Expect("/set?k=cart&v=apple", "ok")
			user.Expect("/get?k=user", "ann")
			user.Expect("/logout", "ok")
			user.Expect("/set?k=user&v=ann", "ok")

			// A document the engine cannot read, and one the face cannot.
			other.Expect("/set?k=user&v=bob", "ok")
			otherID := secID(t, gs, other.Cookie())
			stored, _ := e.Store.Backend().StoredID(otherID)
			if _, err := e.Raw.UpdateOne(ctx, bson.D{{Key: "_id", Value: stored}},
				bson.D{{Key: "$set", Value: bson.D{{Key: "session", Value: "not binary"}}}}); err != nil {
				t.Fatal(err)
			}
			other.Expect("/get?k=user", "")
			other.Expect("/set?k=user&v=bob", "ok")
			if err := e.Store.CommitCtx(ctx, secID(t, gs, other.Cookie()), []byte("not a gorillastore record"), time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if code, _ := other.Get("/get?k=user"); code != http.StatusInternalServerError {
				t.Fatalf("a record the face cannot decode: %d; want the strict app's 500", code)
			}

			// Hostile cookies, then the store goes away mid-run.
			for _, h := range []string{"$where", strings.Repeat("A", 43)} {
				secProbe(srv.Config.Handler, "/get?k=user", h)
			}
			if err := e.Store.Close(); err != nil {
				t.Fatal(err)
			}
			for _, path := range []string{"/get?k=user", "/set?k=user&v=carl"} {
				if code, _ := user.Get(path); code != http.StatusInternalServerError {
					t.Fatalf("GET %s with the store closed: %d; want 500", path, code)
				}
			}

			var tokens []string
			for _, c := range issued.All() {
				tokens = append(tokens, c, secID(t, gs, c))
			}
			if len(tokens) < 8 {
				t.Fatalf("only %d tokens issued; the scenario did not run", len(tokens))
			}
			if !e.OnError.HasCorrupt() || len(appErrs.All()) < 3 || e.Logs.String() == "" {
				t.Fatalf("the scenario produced too little to check: OnError %v, app errors %v, log %q",
					e.OnError.All(), appErrs.All(), e.Logs.String())
			}
			var texts []string
			texts = append(texts, e.Logs.String())
			for _, err := range append(e.OnError.All(), appErrs.All()...) {
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
