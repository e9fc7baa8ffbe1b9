package ginstore_test

import (
	"encoding/gob"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gin-contrib/sessions"
	"github.com/gin-contrib/sessions/tester"
	"github.com/gin-gonic/gin"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongosession/mongosession/ginstore"
	"github.com/mongosession/mongosession/internal/mongotest"
	"github.com/mongosession/mongosession/internal/storetest"
)

var _ sessions.Store = (*ginstore.Store)(nil)

var (
	hashKey  = []byte("0123456789abcdef0123456789abcdef")
	blockKey = []byte("fedcba9876543210fedcba9876543210")
)

type account struct {
	Name  string
	Roles []string
}

func init() { gob.Register(account{}) }

// TestGinContribSuite runs gin-contrib/sessions' own store tests.
func TestGinContribSuite(t *testing.T) {
	newStore := func(t *testing.T) sessions.Store {
		ms, _ := newMongoStore(t)
		return ginstore.New(ms, hashKey)
	}
	t.Run("GetSet", func(t *testing.T) { tester.GetSet(t, newStore) })
	t.Run("DeleteKey", func(t *testing.T) { tester.DeleteKey(t, newStore) })
	t.Run("Flashes", func(t *testing.T) { tester.Flashes(t, newStore) })
	t.Run("Clear", func(t *testing.T) { tester.Clear(t, newStore) })
	t.Run("Options", func(t *testing.T) { tester.Options(t, newStore) })
	t.Run("Many", func(t *testing.T) { tester.Many(t, newStore) })
}

// newGinApp: /count, /peek (no save), /login (custom type), /whoami,
// /logout (MaxAge -1).
func newGinApp(store *ginstore.Store) *gin.Engine {
	r := gin.New()
	r.Use(sessions.Sessions("session", store))
	save := func(c *gin.Context, s sessions.Session) bool {
		if err := s.Save(); err != nil {
			c.String(http.StatusInternalServerError, "session unavailable")
			return false
		}
		return true
	}
	r.GET("/count", func(c *gin.Context) {
		s := sessions.Default(c)
		n, _ := s.Get("views").(int)
		s.Set("views", n+1)
		if save(c, s) {
			c.String(http.StatusOK, fmt.Sprint(n+1))
		}
	})
	r.GET("/peek", func(c *gin.Context) {
		n, _ := sessions.Default(c).Get("views").(int)
		c.String(http.StatusOK, fmt.Sprint(n))
	})
	r.GET("/login", func(c *gin.Context) {
		s := sessions.Default(c)
		s.Set("account", account{Name: "ann", Roles: []string{"admin", "dev"}})
		if save(c, s) {
			c.Status(http.StatusOK)
		}
	})
	r.GET("/whoami", func(c *gin.Context) {
		a, ok := sessions.Default(c).Get("account").(account)
		if !ok {
			c.String(http.StatusOK, "nobody")
			return
		}
		c.String(http.StatusOK, a.Name+" "+strings.Join(a.Roles, ","))
	})
	r.GET("/logout", func(c *gin.Context) {
		s := sessions.Default(c)
		s.Options(sessions.Options{Path: "/", MaxAge: -1})
		if save(c, s) {
			c.Status(http.StatusOK)
		}
	})
	return r
}

func TestGinCounterAndCommands(t *testing.T) {
	ms, cmds := newMongoStore(t)
	b := newBrowser(t, newGinApp(ginstore.New(ms, hashKey)))
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

func TestGinCustomType(t *testing.T) {
	ms, _ := newMongoStore(t)
	b := newBrowser(t, newGinApp(ginstore.New(ms, hashKey)))
	b.Expect("/whoami", "nobody")
	b.Expect("/login", "")
	b.Expect("/whoami", "ann admin,dev")
}

func TestGinLogout(t *testing.T) {
	ms, cmds := newMongoStore(t)
	b := newBrowser(t, newGinApp(ginstore.New(ms, hashKey)))
	b.Expect("/count", "1")
	if n := mongotest.CountDocuments(t, ms, bson.D{}); n != 1 {
		t.Fatalf("%d documents before logout; want 1", n)
	}
	cmds.Reset()
	b.Expect("/logout", "")
	if got := cmds.TakeNames(); !slices.Equal(got, []string{"find", "delete"}) {
		t.Fatalf("logout sent %v; want [find delete]", got)
	}
	if n := mongotest.CountDocuments(t, ms, bson.D{}); n != 0 {
		t.Fatalf("%d documents after logout; want 0", n)
	}
	if b.Cookie() != "" {
		t.Fatal("the browser kept the session cookie after logout")
	}
	b.Expect("/peek", "0")
}

func TestGinOptionsMapping(t *testing.T) {
	ms, _ := newMongoStore(t)
	store := ginstore.New(ms, hashKey)
	store.Options(sessions.Options{Path: "/", MaxAge: 1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	b := newBrowser(t, newGinApp(store))
	resp := b.Expect("/count", "1")
	var c *http.Cookie
	for _, rc := range resp.Cookies() {
		if rc.Name == "session" {
			c = rc
		}
	}
	if c == nil || c.MaxAge != 1 || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" {
		t.Fatalf("cookie = %+v; want the options given to Options", c)
	}
	// Expiry: the record lives MaxAge seconds, whatever the client does.
	kept := b.Cookie()
	time.Sleep(1200 * time.Millisecond)
	b.SetCookie(kept)
	b.Expect("/peek", "0")
}

func TestGinTamperedCookie(t *testing.T) {
	ms, cmds := newMongoStore(t)
	b := newBrowser(t, newGinApp(ginstore.New(ms, hashKey, blockKey)))
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

func TestGinKeyRotation(t *testing.T) {
	ms, _ := newMongoStore(t)
	oldKey := []byte("old-hash-key-old-hash-key-0123456")
	b := newBrowser(t, newGinApp(ginstore.New(ms, oldKey)))
	b.Expect("/count", "1")
	old := b.Cookie()
	b.Server.Config.Handler = newGinApp(ginstore.New(ms, hashKey, blockKey, oldKey, nil))
	b.Expect("/count", "2")
	b.Server.Config.Handler = newGinApp(ginstore.New(ms, hashKey, blockKey))
	b.Expect("/count", "3")
	b.SetCookie(old)
	b.Expect("/peek", "0")
}

func TestGinTwoAppsTwoCollections(t *testing.T) {
	msA, _ := newMongoStore(t)
	msB, _ := newMongoStore(t)
	b := newBrowser(t, newGinApp(ginstore.New(msA, hashKey)))
	b.Expect("/count", "1")
	b.Expect("/count", "2")
	b.Server.Config.Handler = newGinApp(ginstore.New(msB, hashKey))
	b.Expect("/peek", "0")
	b.Expect("/count", "1")
	if a, bb := mongotest.CountDocuments(t, msA, bson.D{}), mongotest.CountDocuments(t, msB, bson.D{}); a != 1 || bb != 1 {
		t.Fatalf("documents: A %d, B %d; want 1 each", a, bb)
	}
}

func TestGinHostileCookies(t *testing.T) {
	ms, _ := newMongoStore(t)
	app := newGinApp(ginstore.New(ms, hashKey))
	for i, v := range storetest.HostileTokens() {
		r := httptest.NewRequest(http.MethodGet, "/count", nil)
		r.Header["Cookie"] = []string{"session=" + v}
		w := httptest.NewRecorder()
		app.ServeHTTP(w, r)
		if w.Code != http.StatusOK || w.Body.String() != "1" {
			t.Fatalf("hostile cookie %d: %d %q; want 200 \"1\"", i, w.Code, w.Body.String())
		}
	}
}

func TestGinStoreDown(t *testing.T) {
	ms, _ := newMongoStore(t)
	b := newBrowser(t, newGinApp(ginstore.New(ms, hashKey)))
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
		t.Fatalf("with the store closed: %d; want 500 from the failed Save", resp.StatusCode)
	}
}
