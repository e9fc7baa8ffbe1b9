package gorillastore_test

import (
	"context"
	"encoding/base64"
	"encoding/gob"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/gorillastore"
	"github.com/mongosession/mongosession/internal/storetest"
	"github.com/mongosession/mongosession/internal/token"
	"go.mongodb.org/mongo-driver/v2/bson"
)

var _ sessions.Store = (*gorillastore.Store)(nil)

const cookieName = "session"

var (
	hashKey  = []byte("0123456789abcdef0123456789abcdef")
	blockKey = []byte("fedcba9876543210fedcba9876543210")
)

// user is a custom type stored in a session; gob needs it registered.
type user struct {
	Name  string
	Roles []string
}

func init() { gob.Register(user{}) }

// newApp is a net/http application using gs through gorilla's registry:
//
//	/count     adds one to "views" and answers the new count
//	/peek      answers "views" without saving
//	/touch     saves the session unchanged, answers "views"
//	/twice     adds one to "views" and saves twice
//	/login     stores a user value
//	/whoami    answers the user's name and roles
//	/many      stores eight values
//	/remember  sets this session's MaxAge to 3600 and saves
//	/logout    deletes the session (MaxAge -1)
func newApp(gs *gorillastore.Store) http.Handler {
	mux := http.NewServeMux()
	handle := func(path string, f func(w http.ResponseWriter, r *http.Request, s *sessions.Session) error) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			s, err := gs.Get(r, cookieName)
			if err == nil {
				err = f(w, r, s)
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
			}
		})
	}
	views := func(s *sessions.Session) int { n, _ := s.Values["views"].(int); return n }
	handle("/count", func(w http.ResponseWriter, r *http.Request, s *sessions.Session) error {
		s.Values["views"] = views(s) + 1
		if err := sessions.Save(r, w); err != nil {
			return err
		}
		_, err := fmt.Fprint(w, views(s))
		return err
	})
	handle("/peek", func(w http.ResponseWriter, r *http.Request, s *sessions.Session) error {
		_, err := fmt.Fprint(w, views(s))
		return err
	})
	handle("/touch", func(w http.ResponseWriter, r *http.Request, s *sessions.Session) error {
		if err := s.Save(r, w); err != nil {
			return err
		}
		_, err := fmt.Fprint(w, views(s))
		return err
	})
	handle("/twice", func(w http.ResponseWriter, r *http.Request, s *sessions.Session) error {
		s.Values["views"] = views(s) + 1
		if err := s.Save(r, w); err != nil {
			return err
		}
		if err := sessions.Save(r, w); err != nil {
			return err
		}
		_, err := fmt.Fprint(w, views(s))
		return err
	})
	handle("/login", func(w http.ResponseWriter, r *http.Request, s *sessions.Session) error {
		s.Values["user"] = user{Name: "ann", Roles: []string{"admin", "dev"}}
		return s.Save(r, w)
	})
	handle("/whoami", func(w http.ResponseWriter, r *http.Request, s *sessions.Session) error {
		u, ok := s.Values["user"].(user)
		if !ok {
			_, err := fmt.Fprint(w, "nobody")
			return err
		}
		_, err := fmt.Fprintf(w, "%s %s", u.Name, strings.Join(u.Roles, ","))
		return err
	})
	handle("/many", func(w http.ResponseWriter, r *http.Request, s *sessions.Session) error {
		for i := range 8 {
			s.Values[fmt.Sprint("k", i)] = i
		}
		return s.Save(r, w)
	})
	handle("/remember", func(w http.ResponseWriter, r *http.Request, s *sessions.Session) error {
		s.Options.MaxAge = 3600
		return s.Save(r, w)
	})
	handle("/logout", func(w http.ResponseWriter, r *http.Request, s *sessions.Session) error {
		s.Options.MaxAge = -1
		return s.Save(r, w)
	})
	return mux
}

// storedExpiry returns the expiry of the only document in ms's collection.
func storedExpiry(t *testing.T, ms *mongosession.Store) (id string, expires time.Time) {
	t.Helper()
	ctx := context.Background()
	n, err := ms.Collection().CountDocuments(ctx, bson.D{})
	if err != nil || n != 1 {
		t.Fatalf("collection holds %d documents (err %v); want 1", n, err)
	}
	var doc struct {
		ID      string    `bson:"_id"`
		Expires time.Time `bson:"expires"`
	}
	if err := ms.Collection().FindOne(ctx, bson.D{}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return doc.ID, doc.Expires
}

func within(t *testing.T, what string, got, want time.Time, tolerance time.Duration) {
	t.Helper()
	if d := got.Sub(want); d < -tolerance || d > tolerance {
		t.Fatalf("%s = %v; want %v ± %v", what, got, want, tolerance)
	}
}

func TestCounterAcrossRequests(t *testing.T) {
	ms, cmds := newMongoStore(t, mongosession.Options{})
	b := newBrowser(t, newApp(gorillastore.New(ms, hashKey)))

	resp := b.expect("/count", "1")
	if got := cmds.TakeNames(); !slices.Equal(got, []string{"update"}) {
		t.Fatalf("first request sent %v; want [update] (no cookie, so no find)", got)
	}
	c := responseCookie(resp, cookieName)
	if c == nil || !c.HttpOnly || c.Path != "/" || c.SameSite != http.SameSiteLaxMode {
		t.Fatalf("cookie = %+v; want HttpOnly, Path /, SameSite Lax", c)
	}
	id, _ := storedExpiry(t, ms)
	if strings.Contains(c.Value, id) {
		t.Fatal("the signed cookie carries the session ID in the clear")
	}
	raw, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil || len(raw) != 32 || len(id) != token.EncodedLen(32) {
		t.Fatalf("stored _id %d chars, %d bytes (err %v); want 256 bits in base64url", len(id), len(raw), err)
	}

	cmds.Reset() // storedExpiry's own commands
	b.expect("/count", "2")
	if got := cmds.TakeNames(); !slices.Equal(got, []string{"find", "update"}) {
		t.Fatalf("second request sent %v; want [find update]", got)
	}
	b.expect("/count", "3")
	if id2, _ := storedExpiry(t, ms); id2 != id {
		t.Fatal("the session changed ID between requests")
	}
}

func TestUnchangedSessionNotWritten(t *testing.T) {
	ms, cmds := newMongoStore(t, mongosession.Options{})
	b := newBrowser(t, newApp(gorillastore.New(ms, hashKey)))

	resp := b.expect("/touch", "0")
	if got := cmds.TakeNames(); len(got) != 0 {
		t.Fatalf("saving an empty new session sent %v; want nothing", got)
	}
	if c := responseCookie(resp, cookieName); c != nil {
		t.Fatalf("saving an empty new session set a cookie: %v", c)
	}

	b.expect("/count", "1")
	cmds.Reset()
	resp = b.expect("/touch", "1")
	if got := cmds.TakeNames(); !slices.Equal(got, []string{"find"}) {
		t.Fatalf("saving an unchanged session sent %v; want [find] only", got)
	}
	if c := responseCookie(resp, cookieName); c == nil || c.MaxAge <= 0 {
		t.Fatalf("saving an unchanged session: cookie %v; want it re-sent with its remaining Max-Age", c)
	}
	b.expect("/twice", "2")
	if got := cmds.TakeNames(); !slices.Equal(got, []string{"find", "update"}) {
		t.Fatalf("saving twice in one request sent %v; want [find update]", got)
	}
	b.expect("/peek", "2")

	// gob writes maps in random order: equal values in other bytes are
	// still unchanged.
	b.get("/many")
	cmds.Reset()
	for range 5 {
		b.expect("/touch", "2")
		if got := cmds.TakeNames(); !slices.Equal(got, []string{"find"}) {
			t.Fatalf("saving an unchanged nine-value session sent %v; want [find] only", got)
		}
	}
}

func TestRegistryLoadsOncePerRequest(t *testing.T) {
	ms, cmds := newMongoStore(t, mongosession.Options{})
	gs := gorillastore.New(ms, hashKey)
	b := newBrowser(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for range 3 {
			s, err := gs.Get(r, cookieName)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			s.Values["n"] = 1
		}
		if err := sessions.Save(r, w); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}))
	b.get("/")
	cmds.Reset()
	b.get("/")
	if got := cmds.TakeNames(); !slices.Equal(got, []string{"find"}) {
		t.Fatalf("three Gets and an unchanged Save sent %v; want [find]", got)
	}
}

func TestCustomType(t *testing.T) {
	ms, _ := newMongoStore(t, mongosession.Options{})
	b := newBrowser(t, newApp(gorillastore.New(ms, hashKey)))
	b.expect("/whoami", "nobody")
	b.get("/login")
	b.expect("/whoami", "ann admin,dev")
}

func TestLogoutEndsDocument(t *testing.T) {
	ms, cmds := newMongoStore(t, mongosession.Options{})
	b := newBrowser(t, newApp(gorillastore.New(ms, hashKey)))
	b.expect("/count", "1")
	b.expect("/count", "2")
	id, _ := storedExpiry(t, ms)
	cmds.Reset()

	resp := b.expect("/logout", "")
	if got := cmds.TakeNames(); !slices.Equal(got, []string{"find", "update"}) {
		t.Fatalf("logout sent %v; want [find update] (the update leaves the ended marker)", got)
	}
	n, err := ms.Collection().CountDocuments(context.Background(), bson.D{{Key: "_id", Value: id}, {Key: "session", Value: bson.D{{Key: "$exists", Value: true}}}})
	if err != nil || n != 0 {
		t.Fatalf("after logout the session data is still there (%d, %v)", n, err)
	}
	if c := responseCookie(resp, cookieName); c == nil || c.MaxAge >= 0 || c.Value != "" {
		t.Fatalf("logout cookie = %v; want an empty cookie with Max-Age=0 (MaxAge < 0)", c)
	}
	if c := b.cookie(cookieName); c != nil {
		t.Fatalf("the browser still holds the session cookie after logout")
	}
	b.expect("/count", "1")
}

func TestExpiry(t *testing.T) {
	ms, _ := newMongoStore(t, mongosession.Options{})
	gs := gorillastore.New(ms, hashKey)
	gs.MaxAge(1)
	b := newBrowser(t, newApp(gs))

	start := time.Now()
	resp := b.expect("/count", "1")
	c := responseCookie(resp, cookieName)
	if c == nil || c.MaxAge != 1 {
		t.Fatalf("cookie = %v; want Max-Age=1", c)
	}
	_, expires := storedExpiry(t, ms)
	within(t, "stored expiry", expires, start.Add(time.Second), 500*time.Millisecond)

	time.Sleep(1200 * time.Millisecond)
	// The browser has dropped its cookie; a client that kept it must get
	// a fresh session all the same.
	b.setCookie(cookieName, c.Value)
	b.expect("/peek", "0")
	b.expect("/count", "1")
}

func TestMaxAgeZeroIsBrowserSession(t *testing.T) {
	ms, _ := newMongoStore(t, mongosession.Options{Expires: time.Hour})
	gs := gorillastore.New(ms, hashKey)
	if gs.Options.MaxAge != 3600 {
		t.Fatalf("default MaxAge = %d; want the store's Expires, 3600", gs.Options.MaxAge)
	}
	gs.MaxAge(0)
	b := newBrowser(t, newApp(gs))
	start := time.Now()
	resp := b.expect("/count", "1")
	if c := responseCookie(resp, cookieName); c == nil || c.MaxAge != 0 || !c.Expires.IsZero() {
		t.Fatalf("cookie = %v; want neither Max-Age nor Expires", c)
	}
	_, expires := storedExpiry(t, ms)
	within(t, "stored expiry", expires, start.Add(time.Hour), time.Minute)
	b.expect("/count", "2")
}

func TestChangedMaxAgeSticks(t *testing.T) {
	ms, cmds := newMongoStore(t, mongosession.Options{})
	gs := gorillastore.New(ms, hashKey)
	gs.MaxAge(60)
	b := newBrowser(t, newApp(gs))
	b.expect("/count", "1")
	_, expires := storedExpiry(t, ms)
	within(t, "stored expiry", expires, time.Now().Add(time.Minute), 5*time.Second)

	resp := b.expect("/remember", "")
	if c := responseCookie(resp, cookieName); c == nil || c.MaxAge != 3600 {
		t.Fatalf("cookie after /remember = %v; want Max-Age=3600", c)
	}
	_, expires = storedExpiry(t, ms)
	within(t, "stored expiry after /remember", expires, time.Now().Add(time.Hour), 5*time.Second)

	cmds.Reset()
	resp = b.expect("/touch", "1")
	if got := cmds.TakeNames(); !slices.Equal(got, []string{"find"}) {
		t.Fatalf("an unchanged session kept its MaxAge yet sent %v; want [find]", got)
	}
	if c := responseCookie(resp, cookieName); c == nil || c.MaxAge < 3590 {
		t.Fatalf("cookie on the next request = %v; want the session's own Max-Age (~3600), not the store's 60", c)
	}
	b.expect("/count", "2")
	_, expires = storedExpiry(t, ms)
	within(t, "stored expiry after a change", expires, time.Now().Add(time.Hour), 5*time.Second)
}

// TestHugeMaxAgeMeansLong: a MaxAge of math.MaxInt (a common "forever")
// must not overflow into a record that is already expired, and an
// unchanged session with it must not be rewritten on every request.
func TestHugeMaxAgeMeansLong(t *testing.T) {
	ms, cmds := newMongoStore(t, mongosession.Options{})
	gs := gorillastore.New(ms, hashKey)
	gs.MaxAge(math.MaxInt)
	b := newBrowser(t, newApp(gs))
	b.expect("/count", "1")
	_, expires := storedExpiry(t, ms)
	if time.Until(expires) < 60*365*24*time.Hour {
		t.Fatalf("stored expiry %v away; want decades", time.Until(expires))
	}
	b.expect("/count", "2")
	cmds.Reset()
	b.expect("/touch", "2")
	if got := cmds.TakeNames(); !slices.Equal(got, []string{"find"}) {
		t.Fatalf("an unchanged session with a huge MaxAge sent %v; want [find]", got)
	}
}

func TestTamperedCookieNoRoundTrip(t *testing.T) {
	ms, cmds := newMongoStore(t, mongosession.Options{})
	b := newBrowser(t, newApp(gorillastore.New(ms, hashKey, blockKey)))
	b.expect("/count", "1")
	good := b.cookie(cookieName).Value
	cmds.Reset()

	for i, pos := range []int{0, len(good) / 2, len(good) - 1} {
		bad := []byte(good)
		if bad[pos] == 'A' {
			bad[pos] = 'B'
		} else {
			bad[pos] = 'A'
		}
		b.setCookie(cookieName, string(bad))
		b.expect("/peek", "0")
		if got := cmds.TakeNames(); len(got) != 0 {
			t.Fatalf("tampered cookie %d sent %v to the database; want nothing", i, got)
		}
	}
	b.expect("/count", "1")
	if b.cookie(cookieName).Value == good {
		t.Fatal("a tampered cookie was answered with the original session's cookie")
	}
	b.setCookie(cookieName, good)
	b.expect("/peek", "1")
}

func TestKeyRotation(t *testing.T) {
	ms, cmds := newMongoStore(t, mongosession.Options{})
	oldKey := []byte("old-hash-key-old-hash-key-0123456")
	oldApp := newApp(gorillastore.New(ms, oldKey))
	rotated := newApp(gorillastore.New(ms, hashKey, blockKey, oldKey, nil))
	newOnly := newApp(gorillastore.New(ms, hashKey, blockKey))

	b := newBrowser(t, oldApp)
	b.expect("/count", "1")
	oldCookie := b.cookie(cookieName).Value

	b.srv.Config.Handler = rotated
	b.expect("/count", "2") // the old key still verifies
	rotatedCookie := b.cookie(cookieName).Value
	if rotatedCookie == oldCookie {
		t.Fatal("the rotated app did not re-issue the cookie under the new key")
	}

	b.srv.Config.Handler = newOnly
	b.expect("/count", "3") // re-signed under the new key
	b.setCookie(cookieName, oldCookie)
	cmds.Reset()
	b.expect("/peek", "0") // the retired key no longer verifies
	if got := cmds.TakeNames(); len(got) != 0 {
		t.Fatalf("a cookie signed with a retired key sent %v; want nothing", got)
	}
}

func TestTwoAppsTwoCollections(t *testing.T) {
	msA, _ := newMongoStore(t, mongosession.Options{})
	msB, _ := newMongoStore(t, mongosession.Options{})
	appA, appB := newApp(gorillastore.New(msA, hashKey)), newApp(gorillastore.New(msB, hashKey))

	b := newBrowser(t, appA)
	b.expect("/count", "1")
	b.expect("/count", "2")
	idA, _ := storedExpiry(t, msA)
	b.srv.Config.Handler = appB // same keys, same cookie name, same browser
	b.expect("/peek", "0")
	b.expect("/count", "1")
	idB, _ := storedExpiry(t, msB)
	if idA == idB {
		t.Fatal("the two apps share a session ID")
	}
	b.srv.Config.Handler = appA
	b.expect("/count", "1") // B replaced the cookie: A sees a stranger
}

func TestHostileCookies(t *testing.T) {
	type cookie struct {
		value string
		// bareFind: without keys, the value has the form of an ID, so
		// one find is the price of learning it was never issued.
		bareFind bool
	}
	var junk []cookie
	for _, v := range storetest.HostileTokens() {
		junk = append(junk, cookie{value: v})
	}
	junk = append(junk,
		cookie{value: strings.Repeat("A", token.EncodedLen(32)), bareFind: true}, // well-formed, never issued
		cookie{value: "MTcwMDAwMDAwMHxhYmN8ZGVm"},                                // securecookie-shaped
		cookie{value: strings.Repeat("x", 5000)},                                 // past securecookie's limit
		cookie{value: strings.Repeat("0", token.EncodedLen(32)) + "="},           // one past the ID length
	)
	for _, tc := range []struct {
		name string
		keys [][]byte
	}{{"signed", [][]byte{hashKey, blockKey}}, {"bare", nil}} {
		t.Run(tc.name, func(t *testing.T) {
			ms, cmds := newMongoStore(t, mongosession.Options{})
			app := newApp(gorillastore.New(ms, tc.keys...))
			b := newBrowser(t, app)
			b.expect("/count", "1")
			b.expect("/count", "2")
			victim := b.cookie(cookieName).Value
			cmds.Reset()

			for i, c := range junk {
				for _, path := range []string{"/peek", "/count"} {
					r := httptest.NewRequest(http.MethodGet, path, nil)
					r.Header["Cookie"] = []string{cookieName + "=" + c.value}
					w := httptest.NewRecorder()
					app.ServeHTTP(w, r)
					want := map[string]string{"/peek": "0", "/count": "1"}[path]
					if w.Code != http.StatusOK || w.Body.String() != want {
						t.Fatalf("hostile cookie %d on %s: %d %q; want 200 %q", i, path, w.Code, w.Body.String(), want)
					}
				}
				got := cmds.TakeNames()
				finds := slices.DeleteFunc(slices.Clone(got), func(s string) bool { return s != "find" })
				wantFinds := 0
				if c.bareFind && tc.keys == nil {
					wantFinds = 2
				}
				if len(finds) != wantFinds {
					t.Fatalf("hostile cookie %d sent %v; want %d finds", i, got, wantFinds)
				}
			}
			b.setCookie(cookieName, victim)
			b.expect("/peek", "2")
		})
	}
}

func TestBareIDCookie(t *testing.T) {
	ms, _ := newMongoStore(t, mongosession.Options{})
	b := newBrowser(t, newApp(gorillastore.New(ms)))
	b.expect("/count", "1")
	b.expect("/count", "2")
	id, _ := storedExpiry(t, ms)
	if v := b.cookie(cookieName).Value; mongosession.HashID(v) != id {
		t.Fatalf("without keys the cookie holds %q; want the session ID (whose hash is the stored _id)", v)
	}
}

func TestLoadFailures(t *testing.T) {
	ctx := context.Background()
	ms, _ := newMongoStore(t, mongosession.Options{})
	gs := gorillastore.New(ms, hashKey)
	request := func(id string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		v, err := securecookie.EncodeMulti(cookieName, id, gs.Codecs...)
		if err != nil {
			t.Fatal(err)
		}
		r.AddCookie(&http.Cookie{Name: cookieName, Value: v})
		return r
	}

	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"not a record", []byte("junk")},
		{"undecodable values", append([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 60}, "not gob"...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := token.Random(32)
			if err := ms.CommitCtx(ctx, id, tc.data, time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			s, err := gs.New(request(id), cookieName)
			if !errors.Is(err, mongosession.ErrCorrupt) {
				t.Fatalf("New = %v; want an error wrapping ErrCorrupt", err)
			}
			if s == nil || !s.IsNew || s.ID != "" || len(s.Values) != 0 {
				t.Fatalf("New returned %+v; want a fresh session that does not reuse the ID", s)
			}
			if strings.Contains(err.Error(), id) {
				t.Fatal("the error message carries the session ID")
			}
		})
	}

	t.Run("closed", func(t *testing.T) {
		ms2, _ := newMongoStore(t, mongosession.Options{})
		gs2 := gorillastore.New(ms2, hashKey)
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		s, err := gs2.Get(r, cookieName)
		if err != nil {
			t.Fatal(err)
		}
		s.Values["views"] = 1
		if err := s.Save(r, w); err != nil {
			t.Fatal(err)
		}
		if err := ms2.Close(); err != nil {
			t.Fatal(err)
		}
		r2 := httptest.NewRequest(http.MethodGet, "/", nil)
		for _, c := range w.Result().Cookies() {
			r2.AddCookie(c)
		}
		s2, err := gs2.Get(r2, cookieName)
		if !errors.Is(err, mongosession.ErrClosed) || s2 == nil || !s2.IsNew {
			t.Fatalf("Get on a closed store = %v, %v; want a fresh session and ErrClosed", s2, err)
		}
		s2.Values["views"] = 2
		if err := s2.Save(r2, httptest.NewRecorder()); !errors.Is(err, mongosession.ErrClosed) {
			t.Fatalf("Save on a closed store = %v; want ErrClosed", err)
		}
	})
}

func TestSaveErrors(t *testing.T) {
	ms, _ := newMongoStore(t, mongosession.Options{})
	gs := gorillastore.New(ms, hashKey)
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	w := httptest.NewRecorder()

	type unregistered struct{ X int }
	s, _ := gs.New(r, cookieName)
	s.Values["x"] = unregistered{1}
	if err := gs.Save(r, w, s); err == nil {
		t.Fatal("Save of an unregistered gob type succeeded")
	}
	s.Values["x"] = strings.Repeat("x", mongosession.MaxDocumentSize)
	if err := gs.Save(r, w, s); !errors.Is(err, mongosession.ErrTooLarge) {
		t.Fatalf("Save of a 16 MiB session = %v; want ErrTooLarge", err)
	}
	if len(w.Result().Cookies()) != 0 {
		t.Fatal("a failed Save set a cookie")
	}
	if s, err := gs.Get(httptest.NewRequest(http.MethodGet, "/", nil), "bad name;"); s == nil || err == nil {
		t.Fatalf("Get(invalid cookie name) = %v, %v; want a session and an error", s, err)
	}
	if err := gs.Save(r, w, nil); err == nil {
		t.Fatal("Save(nil session) succeeded")
	}
	if s, err := gs.New(nil, cookieName); s == nil || err == nil {
		t.Fatalf("New(nil request) = %v, %v; want a session and an error", s, err)
	}
	if s, err := gorillastore.New(nil, hashKey).Get(httptest.NewRequest(http.MethodGet, "/", nil), cookieName); s == nil || err != nil {
		t.Fatalf("Get without cookie on a nil store = %v, %v; want a fresh session", s, err)
	}
}

func TestJSONSerializer(t *testing.T) {
	ms, _ := newMongoStore(t, mongosession.Options{})
	gs := gorillastore.New(ms, hashKey)
	gs.Serializer = gorillastore.JSONSerializer{}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	w := httptest.NewRecorder()
	s, _ := gs.New(r, cookieName)
	s.Values["name"] = "ann"
	s.Values["views"] = 2
	if err := gs.Save(r, w, s); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Session []byte `bson:"session"`
	}
	if err := ms.Collection().FindOne(context.Background(), bson.D{}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(doc.Session), `{"name":"ann","views":2}`) {
		t.Fatalf("stored data %q; want the values as a JSON object", doc.Session)
	}

	r2 := httptest.NewRequest(http.MethodGet, "/", nil)
	for _, c := range w.Result().Cookies() {
		r2.AddCookie(c)
	}
	s2, err := gs.New(r2, cookieName)
	if err != nil || s2.IsNew || s2.Values["name"] != "ann" || s2.Values["views"] != float64(2) {
		t.Fatalf("loaded %v (err %v); want name ann, views 2.0", s2.Values, err)
	}
	s2.Values[1] = "not a string key"
	if err := gs.Save(r2, httptest.NewRecorder(), s2); err == nil {
		t.Fatal("JSONSerializer accepted a non-string key")
	}
}
