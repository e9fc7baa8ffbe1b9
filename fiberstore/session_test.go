package fiberstore_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v3"
	"github.com/gofiber/fiber/v3/middleware/limiter"
	"github.com/gofiber/fiber/v3/middleware/recover"
	"github.com/gofiber/fiber/v3/middleware/session"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/fiberstore"
	"github.com/mongosession/mongosession/internal/mongotest"
)

const cookieName = "session_id" // fiber's default

// Cart is a custom type kept in a session; fiber encodes session data with
// gob, so it is registered with the session store's RegisterType.
type Cart struct {
	Items []string
	Total int
}

// newApp is a fiber app with fiber's session middleware on storage:
//
//	/         counts views, answers the count
//	/id       answers the session ID
//	/add/:it  adds it to the Cart in the session, answers the items
//	/logout   destroys the session
//
// errs receives every error that reaches the app's error handler.
func newApp(t *testing.T, storage fiber.Storage, idle time.Duration) (app *fiber.App, errs *errorLog) {
	t.Helper()
	errs = &errorLog{}
	app = fiber.New(fiber.Config{ErrorHandler: func(c fiber.Ctx, err error) error {
		errs.add(err)
		return fiber.DefaultErrorHandler(c, err)
	}})
	// fiber's session middleware panics when the storage fails on load:
	// recover turns that into an error for the error handler.
	app.Use(recover.New())
	handler, store := session.NewWithStore(session.Config{Storage: storage, IdleTimeout: idle})
	store.RegisterType(Cart{})
	app.Use(handler)
	app.Get("/", func(c fiber.Ctx) error {
		sess := session.FromContext(c)
		n, _ := sess.Get("views").(int)
		n++
		sess.Set("views", n)
		return c.SendString(strconv.Itoa(n))
	})
	app.Get("/id", func(c fiber.Ctx) error {
		return c.SendString(session.FromContext(c).ID())
	})
	app.Get("/add/:item", func(c fiber.Ctx) error {
		sess := session.FromContext(c)
		cart, _ := sess.Get("cart").(Cart)
		cart.Items = append(cart.Items, c.Params("item"))
		cart.Total += len(c.Params("item"))
		sess.Set("cart", cart)
		return c.SendString(strings.Join(cart.Items, ",") + " " + strconv.Itoa(cart.Total))
	})
	app.Get("/logout", func(c fiber.Ctx) error {
		if err := session.FromContext(c).Destroy(); err != nil {
			return err
		}
		return c.SendString("bye")
	})
	return app, errs
}

type errorLog struct {
	mu   sync.Mutex
	errs []error
}

func (l *errorLog) add(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errs = append(l.errs, err)
}

func (l *errorLog) all() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]error(nil), l.errs...)
}

// browser drives an app through app.Test with a cookie jar, as a browser
// would.
type browser struct {
	t   *testing.T
	app *fiber.App
	jar http.CookieJar
}

var site = &url.URL{Scheme: "http", Host: "example.com", Path: "/"}

func newBrowser(t *testing.T, app *fiber.App) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, app: app, jar: jar}
}

// get requests path with the jar's cookies plus extra ones, stores the
// cookies the app sets, and returns the status and body.
func (b *browser) get(path string, extra ...*http.Cookie) (int, string) {
	b.t.Helper()
	req := httptest.NewRequest(http.MethodGet, "http://example.com"+path, nil)
	for _, c := range b.jar.Cookies(site) {
		req.AddCookie(c)
	}
	for _, c := range extra {
		req.AddCookie(c)
	}
	return b.do(req)
}

func (b *browser) do(req *http.Request) (int, string) {
	b.t.Helper()
	resp, err := b.app.Test(req, fiber.TestConfig{Timeout: 20 * time.Second})
	if err != nil {
		b.t.Fatalf("GET %s: %v", req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	b.jar.SetCookies(site, resp.Cookies())
	return resp.StatusCode, string(body)
}

// sessionID is the session cookie the jar holds, or "".
func (b *browser) sessionID() string {
	for _, c := range b.jar.Cookies(site) {
		if c.Name == cookieName {
			return c.Value
		}
	}
	return ""
}

func (b *browser) expect(path, want string) {
	b.t.Helper()
	status, body := b.get(path)
	if status != http.StatusOK || body != want {
		b.t.Fatalf("GET %s = %d %q; want 200 %q", path, status, body, want)
	}
}

// documents counts the live sessions (documents holding session data, not
// ended markers) stored under the key id in store's collection: under
// mongosession.HashID(id), the store's default _id.
func documents(t *testing.T, store *mongosession.Store, id string) int64 {
	t.Helper()
	n, err := store.Collection().CountDocuments(context.Background(), bson.D{
		{Key: "_id", Value: mongosession.HashID(id)},
		{Key: "session", Value: bson.D{{Key: "$exists", Value: true}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSessionCounter(t *testing.T) {
	store := newStore(t, mongosession.Options{})
	app, errs := newApp(t, fiberstore.New(store), time.Hour)
	b := newBrowser(t, app)
	for i := 1; i <= 3; i++ {
		b.expect("/", strconv.Itoa(i))
	}
	id := b.sessionID()
	if id == "" {
		t.Fatal("no session cookie")
	}
	if n := documents(t, store, id); n != 1 {
		t.Fatalf("%d documents under the session ID; want 1", n)
	}
	// A second browser has its own session.
	other := newBrowser(t, app)
	other.expect("/", "1")
	if other.sessionID() == id {
		t.Fatal("two browsers share a session ID")
	}
	b.expect("/", "4")
	if e := errs.all(); len(e) != 0 {
		t.Fatalf("errors reached the app: %v", e)
	}
}

func TestSessionCustomType(t *testing.T) {
	app, _ := newApp(t, newStorage(t, mongosession.Options{}), time.Hour)
	b := newBrowser(t, app)
	b.expect("/add/apple", "apple 5")
	b.expect("/add/kiwi", "apple,kiwi 9")
	b.expect("/", "1") // the cart and the counter live side by side
	b.expect("/add/fig", "apple,kiwi,fig 12")
}

func TestSessionLogoutEndsSession(t *testing.T) {
	store := newStore(t, mongosession.Options{})
	app, _ := newApp(t, fiberstore.New(store), time.Hour)
	b := newBrowser(t, app)
	b.expect("/", "1")
	b.expect("/", "2")
	id := b.sessionID()
	if n := documents(t, store, id); n != 1 {
		t.Fatalf("%d sessions before logout; want 1", n)
	}
	b.expect("/logout", "bye")
	if n := documents(t, store, id); n != 0 {
		t.Fatalf("%d sessions after logout; want 0", n)
	}
	if got := b.sessionID(); got != "" {
		t.Fatal("the session cookie survived logout")
	}
	// The old cookie, replayed, does not bring the session back.
	status, body := b.get("/", &http.Cookie{Name: cookieName, Value: id})
	if status != http.StatusOK || body != "1" {
		t.Fatalf("replayed cookie after logout = %d %q; want a fresh session", status, body)
	}
	if n := documents(t, store, id); n != 0 {
		t.Fatalf("%d sessions under the destroyed ID after a replay; want 0", n)
	}
}

func TestSessionExpiry(t *testing.T) {
	store := newStore(t, mongosession.Options{})
	const idle = time.Second
	app, _ := newApp(t, fiberstore.New(store), idle)
	b := newBrowser(t, app)
	b.expect("/", "1")
	b.expect("/", "2")
	id := b.sessionID()
	old := &http.Cookie{Name: cookieName, Value: id}

	time.Sleep(idle + 500*time.Millisecond)

	// The browser would have dropped the cookie; replay it to prove the
	// server side expired too.
	if _, found, err := store.FindCtx(context.Background(), id); err != nil || found {
		t.Fatalf("engine Find of the expired session: found=%v err=%v; want not found", found, err)
	}
	fresh := newBrowser(t, app)
	status, body := fresh.get("/", old)
	if status != http.StatusOK || body != "1" {
		t.Fatalf("expired session = %d %q; want a fresh session counting 1", status, body)
	}
	if got := fresh.sessionID(); got == "" || got == id {
		t.Fatalf("session ID after expiry = %q; want a new one", got)
	}
}

func TestSessionHostileCookie(t *testing.T) {
	store := newStore(t, mongosession.Options{})
	app, errs := newApp(t, fiberstore.New(store), time.Hour)
	victim := newBrowser(t, app)
	victim.expect("/", "1")
	victim.expect("/", "2")
	victimID := victim.sessionID()

	tampered := []byte(victimID)
	tampered[len(tampered)/2] ^= 1
	cookies := []string{
		string(tampered),
		victimID + "x",
		victimID[:len(victimID)-1],
		"attacker-chosen-session-id",
		`{"$gt":""}`,
		"$where",
		"../../etc/passwd",
		"%00",
		strings.Repeat("A", 3000), // past MaxTokenLength, within fasthttp's 4 KiB header buffer
		"\xff\xfe",
		"*",
	}
	for i, value := range cookies {
		attacker := newBrowser(t, app)
		req := httptest.NewRequest(http.MethodGet, "http://example.com/", nil)
		// Set the header raw: AddCookie would refuse some of these values.
		req.Header.Set("Cookie", cookieName+"="+value)
		status, body := attacker.do(req)
		if status != http.StatusOK || body != "1" {
			t.Errorf("cookie %d: %d %q; want 200 and a fresh session counting 1 (never a 500)", i, status, body)
			continue
		}
		if got := attacker.sessionID(); got == "" || got == value || got == victimID {
			t.Errorf("cookie %d: session ID after a hostile cookie is %.20q; want a new one (no fixation)", i, got)
		}
	}
	if n := documents(t, store, "attacker-chosen-session-id"); n != 0 {
		t.Fatalf("an attacker-chosen ID was stored")
	}
	victim.expect("/", "3")
	if e := errs.all(); len(e) != 0 {
		t.Fatalf("errors reached the app: %v", e)
	}
}

func TestSessionTwoAppsTwoCollections(t *testing.T) {
	storeA := newStore(t, mongosession.Options{})
	storeB := newStore(t, mongosession.Options{})
	appA, _ := newApp(t, fiberstore.New(storeA), time.Hour)
	appB, _ := newApp(t, fiberstore.New(storeB), time.Hour)

	a := newBrowser(t, appA)
	a.expect("/", "1")
	a.expect("/", "2")
	idA := a.sessionID()

	// A's cookie sent to B: B does not see A's session.
	b := newBrowser(t, appB)
	status, body := b.get("/", &http.Cookie{Name: cookieName, Value: idA})
	if status != http.StatusOK || body != "1" {
		t.Fatalf("app B with app A's cookie = %d %q; want a fresh session", status, body)
	}
	if idB := b.sessionID(); idB == "" || idB == idA {
		t.Fatalf("app B's session ID = %q; want a new one", idB)
	}
	if n := documents(t, storeB, idA); n != 0 {
		t.Fatalf("app A's session is in app B's collection")
	}
	if n := documents(t, storeA, b.sessionID()); n != 0 {
		t.Fatalf("app B's session is in app A's collection")
	}
	a.expect("/", "3")
}

func TestSessionStoreOutage(t *testing.T) {
	dialer := &mongotest.SwitchDialer{}
	store := newStore(t, mongosession.Options{
		ClientOptions: options.Client().SetDialer(dialer),
		Timeout:       time.Second,
	})
	storage := fiberstore.New(store)
	app, errs := newApp(t, storage, time.Hour)
	b := newBrowser(t, app)
	b.expect("/", "1")
	id := b.sessionID()

	dialer.SetDown()

	// Storage itself reports the outage as an error.
	if v, err := storage.Get(id); v != nil || !errors.Is(err, mongosession.ErrUnavailable) {
		t.Fatalf("Get during the outage = %v, %v; want nil, ErrUnavailable", v, err)
	}

	// fiber's session middleware panics on the load error; with recover in
	// front, the request ends in a 500 and the app keeps serving.
	status, _ := b.get("/")
	if status != http.StatusInternalServerError {
		t.Fatalf("status during the outage = %d; want 500", status)
	}
	e := errs.all()
	if len(e) == 0 {
		t.Fatal("no error reached the app's error handler")
	}
	for _, err := range e {
		if !errors.Is(err, mongosession.ErrUnavailable) {
			t.Errorf("error reaching the app = %v; want ErrUnavailable", err)
		}
		if strings.Contains(err.Error(), id) {
			t.Errorf("error reaching the app carries the session ID: %v", err)
		}
	}

	// session.Store.Get, used without the middleware, returns the error.
	sstore := session.NewStore(session.Config{Storage: storage})
	plain := fiber.New()
	var getErr error
	plain.Get("/", func(c fiber.Ctx) error {
		sess, err := sstore.Get(c)
		if err != nil {
			getErr = err
			return err
		}
		sess.Release()
		return c.SendString("unexpected")
	})
	status, _ = newBrowser(t, plain).get("/", &http.Cookie{Name: cookieName, Value: id})
	if status != http.StatusInternalServerError || !errors.Is(getErr, mongosession.ErrUnavailable) {
		t.Fatalf("session.Store.Get during the outage: status %d, error %v; want 500 and ErrUnavailable", status, getErr)
	}
}

// TestLimiterMiddleware: keys of middleware other than sessions work too.
func TestLimiterMiddleware(t *testing.T) {
	store := newStore(t, mongosession.Options{})
	app := fiber.New()
	app.Use(limiter.New(limiter.Config{Max: 2, Expiration: time.Minute, Storage: fiberstore.New(store)}))
	app.Get("/", func(c fiber.Ctx) error { return c.SendString("ok") })
	b := newBrowser(t, app)
	for i, want := range []int{http.StatusOK, http.StatusOK, http.StatusTooManyRequests} {
		if status, _ := b.get("/"); status != want {
			t.Fatalf("request %d: status %d; want %d", i+1, status, want)
		}
	}
	n, err := store.Count(context.Background())
	if err != nil || n == 0 {
		t.Fatalf("Count = %d, %v; want the limiter's entries in the collection", n, err)
	}
}
