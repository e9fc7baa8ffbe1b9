package ginstore_test

import (
	"encoding/gob"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gin-contrib/sessions"
	"github.com/gin-contrib/sessions/tester"
	"github.com/gin-gonic/gin"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/ginstore"
	"github.com/mongosession/mongosession/internal/facetest"
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

// ginFace is newGinApp over ginstore, for the facetest suite.
func ginFace(_ *testing.T, store *mongosession.Store, keyPairs ...[]byte) http.Handler {
	return newGinApp(ginstore.New(store, keyPairs...))
}

func TestGinCounterAndCommands(t *testing.T) { facetest.CounterAndCommands(t, ginFace) }

func TestGinCustomType(t *testing.T) { facetest.CustomType(t, ginFace) }

func TestGinLogout(t *testing.T) { facetest.Logout(t, ginFace) }

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

func TestGinTamperedCookie(t *testing.T) { facetest.TamperedCookie(t, ginFace) }

func TestGinKeyRotation(t *testing.T) { facetest.KeyRotation(t, ginFace) }

func TestGinTwoAppsTwoCollections(t *testing.T) { facetest.TwoAppsTwoCollections(t, ginFace) }

func TestGinHostileCookies(t *testing.T) { facetest.HostileCookies(t, ginFace) }

func TestGinStoreDown(t *testing.T) { facetest.StoreDown(t, ginFace, "from the failed Save") }
