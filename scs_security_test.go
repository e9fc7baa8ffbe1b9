package mongosession_test

// The security suite (SECURITY.md) through alexedwards/scs v2 (the engine's
// own face: *mongosession.Store is the scs store), against the real server,
// over HTTP with a cookie jar: session tokens, the dump test (hashed IDs and
// EncryptionKeys), encryption (rotation, a moved ciphertext), hostile
// cookies (with a command monitor on every filter sent) and the log test
// (the store's logger, OnError, and the standard logger that scs's default
// ErrorFunc writes to).

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/securitytest"
	"github.com/mongosession/mongosession/internal/storetest"
)

// newSCSSecEnv is securitytest.NewEnv with the commands New sent taken
// off the monitor.
func newSCSSecEnv(t *testing.T, opts mongosession.Options) *securitytest.Env {
	t.Helper()
	e := securitytest.NewEnv(t, opts)
	e.Monitor.Take()
	return e
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
func scsSecApp(store scs.Store, errs *securitytest.Text) (*scs.SessionManager, http.Handler) {
	sm := scs.New()
	sm.Store = store
	if errs != nil {
		sm.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) {
			errs.Add(err)
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

// newSCSSecBrowser is a browser of srv recording the session cookies it
// is given in issued (its own when nil).
func newSCSSecBrowser(t *testing.T, srv *httptest.Server, issued *securitytest.Issued) *securitytest.Browser {
	return securitytest.NewBrowser(t, srv, "session", issued)
}

// scsSecProbe sends one request with a Cookie header written as given
// straight to the handler, and returns the status, body and the token of
// any session cookie set.
func scsSecProbe(h http.Handler, path, cookie string) (int, string, string) {
	return securitytest.Probe(h, "session", path, cookie)
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
	securitytest.CheckIDs(t, "scs tokens", tokens)

	// Tokens issued through scs on the store, each stored under its hash.
	e := newSCSSecEnv(t, mongosession.Options{})
	var appErrs securitytest.Text
	_, app := scsSecApp(e.Store, &appErrs)
	srv := securitytest.NewServer(t, app)
	var issued []string
	for range 48 {
		b := newSCSSecBrowser(t, srv, nil)
		b.Expect("/set?k=n&v=1", "ok")
		issued = append(issued, b.Cookie())
	}
	securitytest.CheckIDs(t, "tokens issued over HTTP", issued)
	for _, tok := range issued {
		n, err := e.Raw.CountDocuments(ctx, bson.D{{Key: "_id", Value: mongosession.HashID(tok)}})
		if err != nil || n != 1 {
			t.Fatalf("%d documents under the hash of an issued token (%v); want 1", n, err)
		}
	}
	if errs := appErrs.All(); len(errs) != 0 {
		t.Fatalf("errors reached the app: %v", errs)
	}
}

func TestSCSSecurityDump(t *testing.T) {
	e := newSCSSecEnv(t, mongosession.Options{EncryptionKeys: [][]byte{key(1)}})
	var appErrs securitytest.Text
	_, app := scsSecApp(e.Store, &appErrs)
	srv := securitytest.NewServer(t, app)
	var victims []*securitytest.Browser
	plaintexts := []string{"secEmail", "secRole", "superuser"}
	for i := range 3 {
		b := newSCSSecBrowser(t, srv, nil)
		b.Expect(fmt.Sprintf("/set?k=secEmail&v=alice%d@example.com", i), "ok")
		b.Expect("/set?k=secRole&v=superuser", "ok")
		victims = append(victims, b)
		plaintexts = append(plaintexts, fmt.Sprintf("alice%d@example.com", i), b.Cookie())
	}
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
	e.Monitor.Take()
	for i, c := range candidates {
		code, body, tok := scsSecProbe(app, "/get?k=secEmail", c)
		if code != http.StatusOK || body != "" || tok != "" {
			t.Fatalf("stored value %d as a cookie: %d %q (cookie set: %v); want 200 and no session", i, code, body, tok != "")
		}
	}
	looked := securitytest.CheckCommands(t, e.Monitor.Take())
	if len(looked) < len(docs) {
		t.Fatalf("only %d lookups for %d stored values: the stored _ids did not reach the store", len(looked), len(candidates))
	}
	for i, b := range victims {
		b.Expect("/get?k=secEmail", fmt.Sprintf("alice%d@example.com", i))
	}
	if errs := appErrs.All(); len(errs) != 0 {
		t.Fatalf("errors reached the app: %v", errs)
	}
}

func TestSCSSecurityEncryptionRotation(t *testing.T) {
	old := newSCSSecEnv(t, mongosession.Options{EncryptionKeys: [][]byte{key(1)}})
	rotated := newSCSSecEnv(t, mongosession.Options{Collection: old.Coll, EncryptionKeys: [][]byte{key(2), key(1)}})
	newOnly := newSCSSecEnv(t, mongosession.Options{Collection: old.Coll, EncryptionKeys: [][]byte{key(2)}})
	var appErrs securitytest.Text
	app := func(e *securitytest.Env) http.Handler { _, h := scsSecApp(e.Store, &appErrs); return h }

	srv := securitytest.NewServer(t, app(old))
	b := newSCSSecBrowser(t, srv, nil)
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

func TestSCSSecurityMovedCiphertext(t *testing.T) {
	e := newSCSSecEnv(t, mongosession.Options{EncryptionKeys: [][]byte{key(1)}})
	var appErrs securitytest.Text
	_, app := scsSecApp(e.Store, &appErrs)
	srv := securitytest.NewServer(t, app)
	victim, attacker := newSCSSecBrowser(t, srv, nil), newSCSSecBrowser(t, srv, nil)
	victim.Expect("/set?k=secEmail&v=victim@example.com", "ok")
	attacker.Expect("/set?k=secEmail&v=attacker@example.com", "ok")
	victimID, attackerID := mongosession.HashID(victim.Cookie()), mongosession.HashID(attacker.Cookie())

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

	flipped := bytes.Clone(ct)
	flipped[len(flipped)-1] ^= 1
	setSession(victimID, flipped)
	victim.Expect("/get?k=secEmail", "")
	attacker.Expect("/set?k=secEmail&v=again", "ok")
	if errs := appErrs.All(); len(errs) != 0 {
		t.Fatalf("errors reached the app: %v", errs)
	}
}

func TestSCSSecurityInjection(t *testing.T) {
	hostile := append(storetest.HostileTokens(),
		`{"$gt":""}`, `{$gt:""}`, `$where`, `$ne`, "_id", "session", "expires", "a.b", "$.x", "__proto__", "__proto__.admin",
		"tok\x00en", strings.Repeat("B", 100_000), "\xc0\xaf", strings.Repeat("A", 43), strings.Repeat("-", 43))
	for _, hashed := range []bool{false, true} {
		t.Run(fmt.Sprintf("hashed=%v", hashed), func(t *testing.T) {
			e := newSCSSecEnv(t, mongosession.Options{PlainIDs: !hashed})
			var appErrs securitytest.Text
			_, app := scsSecApp(e.Store, &appErrs)
			srv := securitytest.NewServer(t, app)
			victim := newSCSSecBrowser(t, srv, nil)
			victim.Expect("/set?k=secEmail&v=victim@example.com", "ok")
			victimToken := victim.Cookie()
			e.Monitor.Take()

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
			ids := securitytest.CheckCommands(t, e.Monitor.Take())
			sent := 0
			for _, id := range ids {
				if hostileSet[id] {
					sent++
				}
			}
			if sent < 5 {
				t.Fatalf("only %d hostile tokens reached the database: the filter check proves little", sent)
			}
			for _, d := range e.Dump(t) {
				if id := d.Lookup("_id").StringValue(); hostileSet[id] || len(id) != 43 {
					t.Fatalf("a session is stored under %.60q", id)
				}
			}
			victim.Expect("/get?k=secEmail", "victim@example.com")
			if victim.Cookie() != victimToken {
				t.Fatal("the victim's session changed token")
			}
			if errs := appErrs.All(); len(errs) != 0 {
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
		{"hashed tokens, encrypted", mongosession.Options{EncryptionKeys: [][]byte{key(7)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newSCSSecEnv(t, tc.opts)
			var stdlog securitytest.Text
			scsSecStdLog(t, &stdlog)
			_, app := scsSecApp(e.Store, nil) // scs's default ErrorFunc
			srv := securitytest.NewServer(t, app)
			issued := &securitytest.Issued{Name: "session"}
			user, other := newSCSSecBrowser(t, srv, issued), newSCSSecBrowser(t, srv, issued)

			// Login (a token renewed), changes, logout, login again.
			for _, path := range []string{"/set?k=cart&v=apple", "/login", "/set?k=cart&v=pear", "/get?k=user", "/logout", "/login"} {
				if code, body := user.Get(path); code != http.StatusOK {
					t.Fatalf("GET %s: %d %s", path, code, body)
				}
			}
			// A document the engine cannot read, then data scs cannot decode.
			other.Expect("/set?k=user&v=bob", "ok")
			stored, _ := e.Store.Backend().StoredID(other.Cookie())
			if _, err := e.Raw.UpdateOne(ctx, bson.D{{Key: "_id", Value: stored}},
				bson.D{{Key: "$set", Value: bson.D{{Key: "session", Value: "not binary"}}}}); err != nil {
				t.Fatal(err)
			}
			other.Expect("/get?k=user", "")
			other.Expect("/set?k=user&v=bob", "ok")
			if err := e.Store.CommitCtx(ctx, other.Cookie(), []byte("not scs data"), time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if code, _ := other.Get("/get?k=user"); code != http.StatusInternalServerError {
				t.Fatalf("data scs cannot decode: %d; want scs's 500", code)
			}
			// Hostile cookies, then the store goes away mid-run.
			for _, h := range []string{"$where", strings.Repeat("A", 43)} {
				scsSecProbe(app, "/get?k=user", h)
			}
			must(t, e.Store.Close())
			for _, path := range []string{"/get?k=user", "/set?k=user&v=carl"} {
				if code, _ := user.Get(path); code != http.StatusInternalServerError {
					t.Fatalf("GET %s with the store closed: %d; want 500", path, code)
				}
			}

			tokens := issued.All()
			if len(tokens) < 6 || !e.OnError.HasCorrupt() || e.Logs.String() == "" || strings.Count(stdlog.String(), "\n") < 3 {
				t.Fatalf("the scenario produced too little to check: %d tokens, OnError %v, store log %q, standard log %q",
					len(tokens), e.OnError.All(), e.Logs.String(), stdlog.String())
			}
			texts := []string{e.Logs.String(), stdlog.String()}
			for _, err := range e.OnError.All() {
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
