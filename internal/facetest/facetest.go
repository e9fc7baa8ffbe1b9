// Package facetest is the HTTP-level suite every framework face runs: the
// same scenarios, over a real server with a cookie jar (see browsertest),
// against a fresh collection whose data commands are recorded (see
// mongotest). A face supplies a Factory that builds its app; the suite
// never imports a framework, so it lives in the root module and each
// face's module runs it from its own tests.
//
// The app a Factory returns keeps its session in the cookie "session" and
// serves, with status 200:
//
//	/count   adds one to the int "views", saves, and answers the new count
//	/peek    answers "views" (0 if unset) without saving
//	/login   stores a gob-registered custom type for the user ann with the
//	         roles admin and dev, saves, and answers an empty body
//	/whoami  answers "ann admin,dev" for that value, "nobody" without it
//	/logout  saves the session with MaxAge -1 and answers an empty body
//
// A failed load or save of the session must answer 500.
package facetest

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/browsertest"
	"github.com/mongosession/mongosession/internal/mongotest"
	"github.com/mongosession/mongosession/internal/storetest"
)

// Factory returns the face's app (see the package comment) keeping its
// sessions in store, with cookies signed and, when given, encrypted by
// keyPairs as gorilla/sessions takes them: authentication key, optional
// encryption key (nil for none), newest pair first. It is called again
// mid-test to swap the server's handler, as a redeploy would.
type Factory func(t *testing.T, store *mongosession.Store, keyPairs ...[]byte) http.Handler

var (
	hashKey  = []byte("0123456789abcdef0123456789abcdef")
	blockKey = []byte("fedcba9876543210fedcba9876543210")
)

// newMongoStore opens a store on a fresh collection through a client
// whose data commands are recorded.
func newMongoStore(t *testing.T) (*mongosession.Store, *mongotest.Commands) {
	t.Helper()
	cmds := mongotest.DataCommands()
	s := mongotest.NewRecordedStore(t, mongosession.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, cmds)
	return s, cmds
}

// newBrowser serves h until the test ends and returns a browser of it
// whose session cookie is "session".
func newBrowser(t *testing.T, h http.Handler) *browsertest.Browser {
	return browsertest.New(t, h, "session")
}

// CounterAndCommands counts three views and peeks once, and fails unless
// counting sends exactly [find update], peeking exactly [find], and one
// document is left.
func CounterAndCommands(t *testing.T, newApp Factory) {
	ms, cmds := newMongoStore(t)
	b := newBrowser(t, newApp(t, ms, hashKey))
	b.Expect("/count", "1")
	b.Expect("/count", "2")
	cmds.Reset()
	b.Expect("/count", "3")
	if got := cmds.TakeNames(); !slices.Equal(got, []string{"find", "update"}) {
		t.Fatalf("a counting request sent %v; want [find update]", got)
	}
	b.Expect("/peek", "3")
	if got := cmds.TakeNames(); !slices.Equal(got, []string{"find"}) {
		t.Fatalf("a reading request sent %v; want [find]", got)
	}
	if n := mongotest.CountDocuments(t, ms, bson.D{}); n != 1 {
		t.Fatalf("%d documents; want 1", n)
	}
}

// CustomType fails unless a gob-registered struct saved by /login comes
// back whole on the next request.
func CustomType(t *testing.T, newApp Factory) {
	ms, _ := newMongoStore(t)
	b := newBrowser(t, newApp(t, ms, hashKey))
	b.Expect("/whoami", "nobody")
	b.Expect("/login", "")
	b.Expect("/whoami", "ann admin,dev")
}

// Logout fails unless saving with MaxAge -1 sends exactly [find update]
// (the update leaves the ended marker in place of the session), leaves no
// session data in the collection, deletes the browser's cookie and leaves a
// fresh session, also for the old cookie replayed.
func Logout(t *testing.T, newApp Factory) {
	ms, cmds := newMongoStore(t)
	b := newBrowser(t, newApp(t, ms, hashKey))
	b.Expect("/count", "1")
	live := bson.D{{Key: "session", Value: bson.D{{Key: "$exists", Value: true}}}}
	if n := mongotest.CountDocuments(t, ms, live); n != 1 {
		t.Fatalf("%d sessions before logout; want 1", n)
	}
	old := b.Cookie()
	cmds.Reset()
	b.Expect("/logout", "")
	if got := cmds.TakeNames(); !slices.Equal(got, []string{"find", "update"}) {
		t.Fatalf("logout sent %v; want [find update]", got)
	}
	if n := mongotest.CountDocuments(t, ms, live); n != 0 {
		t.Fatalf("%d documents hold session data after logout; want 0", n)
	}
	if b.Cookie() != "" {
		t.Fatal("the browser kept the session cookie after logout")
	}
	b.Expect("/peek", "0")
	b.SetCookie(old)
	b.Expect("/peek", "0")
}

// TamperedCookie flips one bit of a signed and encrypted cookie and fails
// unless the request gets a fresh session without a single command sent,
// and the untouched cookie still finds the session.
func TamperedCookie(t *testing.T, newApp Factory) {
	ms, cmds := newMongoStore(t)
	b := newBrowser(t, newApp(t, ms, hashKey, blockKey))
	b.Expect("/count", "1")
	good := b.Cookie()
	bad := []byte(good)
	bad[len(bad)/2] ^= 0x01
	b.SetCookie(string(bad))
	cmds.Reset()
	b.Expect("/peek", "0")
	if got := cmds.TakeNames(); len(got) != 0 {
		t.Fatalf("a tampered cookie sent %v; want nothing", got)
	}
	b.SetCookie(good)
	b.Expect("/peek", "1")
}

// KeyRotation redeploys the app twice: with a new key pair before the old
// key, then with the new pair alone. It fails unless the session survives
// both (re-signed under the new key by the first) and a cookie signed
// under the old key alone finds nothing after the second.
func KeyRotation(t *testing.T, newApp Factory) {
	ms, _ := newMongoStore(t)
	oldKey := []byte("old-hash-key-old-hash-key-0123456")
	b := newBrowser(t, newApp(t, ms, oldKey))
	b.Expect("/count", "1")
	old := b.Cookie()
	b.Server.Config.Handler = newApp(t, ms, hashKey, blockKey, oldKey, nil)
	b.Expect("/count", "2")
	b.Server.Config.Handler = newApp(t, ms, hashKey, blockKey)
	b.Expect("/count", "3")
	b.SetCookie(old)
	b.Expect("/peek", "0")
}

// TwoAppsTwoCollections swaps an app on one collection for an app on
// another under the same key and fails unless the second sees none of the
// first's session and each collection holds one document.
func TwoAppsTwoCollections(t *testing.T, newApp Factory) {
	msA, _ := newMongoStore(t)
	msB, _ := newMongoStore(t)
	b := newBrowser(t, newApp(t, msA, hashKey))
	b.Expect("/count", "1")
	b.Expect("/count", "2")
	b.Server.Config.Handler = newApp(t, msB, hashKey)
	b.Expect("/peek", "0")
	b.Expect("/count", "1")
	if a, bb := mongotest.CountDocuments(t, msA, bson.D{}), mongotest.CountDocuments(t, msB, bson.D{}); a != 1 || bb != 1 {
		t.Fatalf("documents: A %d, B %d; want 1 each", a, bb)
	}
}

// HostileCookies sends each of storetest.HostileTokens as the session
// cookie and fails unless every one gets a fresh session: 200 "1".
func HostileCookies(t *testing.T, newApp Factory) {
	ms, _ := newMongoStore(t)
	app := newApp(t, ms, hashKey)
	for i, v := range storetest.HostileTokens() {
		r := httptest.NewRequest(http.MethodGet, "/count", nil)
		r.Header["Cookie"] = []string{"session=" + v}
		w := httptest.NewRecorder()
		app.ServeHTTP(w, r)
		if w.Code != http.StatusOK || w.Body.String() != "1" {
			t.Fatalf("hostile cookie %d: %d %q; want 200 \"1\"", i, w.Code, bytes.TrimSpace(w.Body.Bytes()))
		}
	}
}

// StoreDown closes the store after one request and fails unless the next
// gets a 500; why names, for the failure message, where the face's 500
// comes from (the failed load or the failed save).
func StoreDown(t *testing.T, newApp Factory, why string) {
	ms, _ := newMongoStore(t)
	b := newBrowser(t, newApp(t, ms, hashKey))
	b.Expect("/count", "1")
	if err := ms.Close(); err != nil {
		t.Fatal(err)
	}
	resp, err := b.Client.Get(b.Server.URL + "/count")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("with the store closed: %d; want 500 %s", resp.StatusCode, why)
	}
}
