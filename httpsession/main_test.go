package httpsession_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/httpsession"
	"github.com/mongosession/mongosession/internal/mongotest"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func TestMain(m *testing.M) { os.Exit(mongotest.Main(m)) }

func names(cmds []mongotest.Command) string {
	var s []string
	for _, c := range cmds {
		s = append(s, c.Name)
	}
	return strings.Join(s, ",")
}

// env is a manager on a fresh collection, served by a test HTTP server.
type env struct {
	m      *httpsession.Manager
	store  *mongosession.Store
	coll   *mongo.Collection
	rec    *mongotest.Commands // the commands sent to the collection
	srv    *httptest.Server
	errs   chan error // what ErrorFunc received
	onSlow chan struct{}
	resume chan struct{}
}

type envConfig struct {
	poolSize   uint64 // 0: the driver's default
	keys       [][]byte
	configure  func(*httpsession.Manager)
	storeOpts  func(*mongosession.Options)
	noHandlers bool
	// onCommand, if set, sees each command the manager's client starts,
	// after the recorder, before it is sent: a test injects a fault there.
	onCommand func(*event.CommandStartedEvent)
}

func newEnv(t *testing.T, cfg envConfig) *env {
	t.Helper()
	coll := mongotest.Collection(t)
	e := &env{rec: mongotest.CollectionCommands(coll), errs: make(chan error, 100),
		onSlow: make(chan struct{}, 1), resume: make(chan struct{})}
	mon := e.rec.Monitor()
	if cfg.onCommand != nil {
		mon.Started = func(ctx context.Context, ev *event.CommandStartedEvent) {
			e.rec.Started(ctx, ev)
			cfg.onCommand(ev)
		}
	}
	co := options.Client().ApplyURI(mongotest.URI(t)).SetMonitor(mon)
	if cfg.poolSize > 0 {
		co.SetMaxPoolSize(cfg.poolSize)
	}
	client, err := mongo.Connect(co)
	if err != nil {
		t.Fatal(err)
	}
	opts := mongosession.Options{
		Client:         client,
		Database:       mongotest.Database,
		Collection:     coll,
		Timeout:        30 * time.Second,
		EncryptionKeys: cfg.keys,
		Logger:         slog.New(slog.NewTextHandler(mongotest.LogWriter{T: t}, nil)),
	}
	if cfg.storeOpts != nil {
		cfg.storeOpts(&opts)
	}
	store, err := mongosession.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	e.store, e.coll = store, store.Collection()
	e.m = httpsession.New(store)
	e.m.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) {
		e.errs <- err
		http.Error(w, "session error", http.StatusInternalServerError)
	}
	if cfg.configure != nil {
		cfg.configure(e.m)
	}
	e.srv = httptest.NewServer(e.m.LoadAndSave(e.handler(t)))
	t.Cleanup(func() {
		e.srv.Close()
		mongotest.Drop(t, e.coll)
		_ = store.Close()
		_ = client.Disconnect(context.Background())
		select {
		case err := <-e.errs:
			t.Errorf("ErrorFunc was called: %v", err)
		default:
		}
	})
	e.rec.Reset()
	return e
}

// handler serves the operations the tests drive over HTTP.
func (e *env) handler(t *testing.T) http.Handler {
	m := e.m
	mux := http.NewServeMux()
	mux.HandleFunc("/put", func(w http.ResponseWriter, r *http.Request) {
		m.Put(r.Context(), r.FormValue("k"), r.FormValue("v"))
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/get", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, m.GetString(r.Context(), r.FormValue("k")))
	})
	mux.HandleFunc("/remove", func(w http.ResponseWriter, r *http.Request) {
		m.Remove(r.Context(), r.FormValue("k"))
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.Join(m.Keys(r.Context()), "\n"))
	})
	mux.HandleFunc("/incr", func(w http.ResponseWriter, r *http.Request) {
		n, err := m.Incr(r.Context(), r.FormValue("k"), 1)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		fmt.Fprint(w, n)
	})
	mux.HandleFunc("/noop", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/destroy", func(w http.ResponseWriter, r *http.Request) {
		if err := m.Destroy(r.Context()); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		m.SetUser(r.Context(), r.FormValue("user"))
		if err := m.RenewToken(r.Context()); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/renew", func(w http.ResponseWriter, r *http.Request) {
		// A periodic renewal: reads the user, keeps it.
		if m.User(r.Context()) == "" {
			http.Error(w, "not logged in", 403)
			return
		}
		if err := m.RenewToken(r.Context()); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/user", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, m.User(r.Context()))
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		m.Keys(r.Context()) // a slow request that has read its session
		e.onSlow <- struct{}{}
		<-e.resume
		m.Put(r.Context(), r.FormValue("k"), "slow")
		io.WriteString(w, "ok")
	})
	return mux
}

// client returns an HTTP client with a cookie jar of its own: one browser.
func (e *env) client(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: time.Minute}
}

// get requests path and returns the status, body and response.
func (e *env) get(t *testing.T, c *http.Client, path string) (int, string, *http.Response) {
	t.Helper()
	res, err := c.Get(e.srv.URL + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(b), res
}

// try is get for goroutines other than the test's: it returns errors.
func (e *env) try(c *http.Client, path string) (int, string, error) {
	res, err := c.Get(e.srv.URL + path)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, string(b), err
}

// mustGet is get, failing the test unless the status is 200.
func (e *env) mustGet(t *testing.T, c *http.Client, path string) string {
	t.Helper()
	code, body, _ := e.get(t, c, path)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, code, body)
	}
	return body
}

// token returns the session cookie the client holds, or "".
func (e *env) token(c *http.Client) string {
	u, _ := url.Parse(e.srv.URL)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == httpsession.DefaultCookieName {
			return ck.Value
		}
	}
	return ""
}

// withCookie returns a client that holds only the session cookie token.
func (e *env) withCookie(t *testing.T, token string) *http.Client {
	c := e.client(t)
	u, _ := url.Parse(e.srv.URL)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: httpsession.DefaultCookieName, Value: token}})
	return c
}

// doc returns the stored document of token's session, or nil.
func (e *env) doc(t *testing.T, token string) bson.Raw {
	t.Helper()
	if len(token) < selectorLen {
		return nil
	}
	raw, err := e.coll.FindOne(context.Background(), bson.D{{Key: "_id", Value: token[:selectorLen]}}).Raw()
	if err == mongo.ErrNoDocuments {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// selectorLen is the length of a token's selector, the stored _id.
const selectorLen = 32

// live counts the stored sessions that have not expired.
func (e *env) live(t *testing.T) int64 {
	t.Helper()
	n, err := e.coll.CountDocuments(context.Background(), bson.D{
		{Key: "expires", Value: bson.D{{Key: "$gt", Value: time.Now()}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *env) count(t *testing.T) int64 {
	t.Helper()
	n, err := e.coll.CountDocuments(context.Background(), bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

var (
	atomicOnce sync.Once
	atomicOK   bool
)

// concurrency returns the client pool size for concurrency tests: the
// driver's default when the server applies concurrent updates of one
// document atomically, else 1 (FerretDB 1.x updates without a lock: with a
// single connection it applies one command at a time, and the
// application-level race between requests is still fully exercised). A
// probe of 50 concurrent $inc on a scratch document decides.
func concurrency(t *testing.T) uint64 {
	atomicOnce.Do(func() {
		client, err := mongo.Connect(options.Client().ApplyURI(mongotest.URI(t)))
		if err != nil {
			t.Fatal(err)
		}
		defer client.Disconnect(context.Background())
		coll := client.Database(mongotest.Database).Collection(mongotest.Collection(t))
		ctx := context.Background()
		defer coll.Drop(ctx)
		if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: 1}, {Key: "n", Value: 0}}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}})
			}()
		}
		wg.Wait()
		var got struct{ N int }
		if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: 1}}).Decode(&got); err != nil {
			t.Fatal(err)
		}
		atomicOK = got.N == 50
	})
	if atomicOK {
		t.Log("mode: full concurrency (the server applied 50 concurrent $inc of one document atomically)")
		return 0
	}
	t.Log("mode: one connection (the server lost concurrent $inc of one document, as FerretDB 1.x does; requests still race in the application)")
	return 1
}
