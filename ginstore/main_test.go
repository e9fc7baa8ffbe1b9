package ginstore_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"sync"
	"testing"

	"github.com/gin-gonic/gin"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/mongotest"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	os.Exit(mongotest.Main(m))
}

type commands struct {
	mu    sync.Mutex
	names []string
}

func (c *commands) started(_ context.Context, e *event.CommandStartedEvent) {
	switch e.CommandName {
	case "find", "update", "delete", "insert", "getMore", "aggregate", "count", "findAndModify":
		c.mu.Lock()
		c.names = append(c.names, e.CommandName)
		c.mu.Unlock()
	}
}

func (c *commands) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.names
	c.names = nil
	return n
}

// newMongoStore opens a store on a fresh collection through a client
// whose data commands are recorded.
func newMongoStore(t *testing.T) (*mongosession.Store, *commands) {
	t.Helper()
	cmds := &commands{}
	client, err := mongo.Connect(options.Client().ApplyURI(mongotest.URI(t)).
		SetMonitor(&event.CommandMonitor{Started: cmds.started}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	s, err := mongosession.New(context.Background(), mongosession.Options{
		Client:     client,
		Database:   mongotest.Database,
		Collection: mongotest.Collection(t),
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = s.Clear(context.Background())
		_ = s.Close()
	})
	cmds.take()
	return s, cmds
}

type browser struct {
	t   *testing.T
	srv *httptest.Server
	c   *http.Client
}

func newBrowser(t *testing.T, h http.Handler) *browser {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, srv: srv, c: &http.Client{Jar: jar}}
}

func (b *browser) expect(path, want string) *http.Response {
	b.t.Helper()
	resp, err := b.c.Get(b.srv.URL + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != want {
		b.t.Fatalf("GET %s = %d %q; want 200 %q", path, resp.StatusCode, body, want)
	}
	return resp
}

func (b *browser) cookie() string {
	u, _ := url.Parse(b.srv.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == "session" {
			return c.Value
		}
	}
	return ""
}

func (b *browser) setCookie(v string) {
	u, _ := url.Parse(b.srv.URL)
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: "session", Value: v, Path: "/"}})
}

func countDocs(t *testing.T, ms *mongosession.Store, filter bson.D) int64 {
	t.Helper()
	n, err := ms.Collection().CountDocuments(context.Background(), filter)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
