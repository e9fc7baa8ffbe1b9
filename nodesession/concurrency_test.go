package nodesession_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/mongotest"
	"github.com/mongosession/mongosession/nodesession"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// holdServer is a Go side whose one route, /hold?id=ID, loads the
// session, says so, waits until the test releases it, then runs the
// request's op: a Go request that loaded the session before another
// writer changed it and saves after.
type holdServer struct {
	base  string
	mu    sync.Mutex
	holds map[string]*held
	next  int
}

// held is one request of a holdServer.
type held struct {
	loaded  chan struct{}
	release chan struct{}
	op      func(s *nodesession.Session) error
	done    chan heldResult
}

type heldResult struct {
	res  *http.Response
	body string
	err  error
}

func newHoldServer(t *testing.T, m *nodesession.Manager) *holdServer {
	t.Helper()
	hs := &holdServer{holds: map[string]*held{}}
	srv := httptest.NewServer(m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hs.mu.Lock()
		h := hs.holds[r.URL.Query().Get("id")]
		hs.mu.Unlock()
		if h == nil {
			http.Error(w, "unknown hold", 404)
			return
		}
		close(h.loaded)
		select {
		case <-h.release:
		case <-r.Context().Done():
			return
		}
		if err := h.op(nodesession.FromContext(r.Context())); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		writeJSON(w, map[string]any{"ok": true})
	})))
	t.Cleanup(srv.Close)
	hs.base = srv.URL
	return hs
}

// start sends c's request and returns once the Go side has loaded the
// session (failing the test if the request ends first).
func (hs *holdServer) start(t *testing.T, c *client, op func(s *nodesession.Session) error) *held {
	t.Helper()
	h := &held{loaded: make(chan struct{}), release: make(chan struct{}), op: op, done: make(chan heldResult, 1)}
	hs.mu.Lock()
	hs.next++
	id := strconv.Itoa(hs.next)
	hs.holds[id] = h
	hs.mu.Unlock()
	go func() {
		res, err := c.hc.Get(hs.base + "/hold?id=" + id)
		if err != nil {
			h.done <- heldResult{err: err}
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		h.done <- heldResult{res: res, body: string(b)}
	}()
	select {
	case <-h.loaded:
	case r := <-h.done:
		t.Fatalf("held request ended before loading the session: %v %v %s", r.err, r.res, r.body)
	}
	return h
}

// finish releases h and returns its response, failing the test unless it
// is 200.
func (h *held) finish(t *testing.T) *http.Response {
	t.Helper()
	close(h.release)
	r := <-h.done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.res.StatusCode != 200 {
		t.Fatalf("held request: %d %s", r.res.StatusCode, r.body)
	}
	return r.res
}

// allPairings are the document, JSON-string and encrypted layouts.
func allPairings() []pairing {
	return append(append([]pairing(nil), pairings...), cryptoPairings...)
}

// pairedApps are the Node app of a pairing and a Go manager sharing one
// new collection, with the secret "s".
type pairedApps struct {
	st     *mongosession.Store
	node   *nodeApp
	m      *nodesession.Manager
	goBase string // the Go app's URL
}

// start starts p's Node app and a Go app on one new collection.
func (p pairing) start(t *testing.T) pairedApps {
	t.Helper()
	coll := mongotest.Collection(t)
	st := goStore(t, coll)
	secrets := []string{"s"}
	a := pairedApps{st: st, node: startNode(t, p.name, coll, secrets, p.env...), m: p.manager(t, st, secrets)}
	a.goBase = goServer(t, a.m)
	return a
}

func (p pairing) label() string {
	if p.encrypted {
		return p.name + "-webcrypto"
	}
	return p.name
}

// TestInteropConcurrentWrites: two Go requests load a Node session, the
// Node app writes a key, then the Go requests write theirs, one after the
// other, each on a session changed since it loaded. Nothing is lost in
// any layout: not the Node app's key, not the first Go request's, and the
// key the second Go request deleted stays deleted.
func TestInteropConcurrentWrites(t *testing.T) {
	needNode(t)
	for _, p := range allPairings() {
		t.Run(p.label(), func(t *testing.T) {
			apps := p.start(t)
			node, m, goBase := apps.node, apps.m, apps.goBase
			hs := newHoldServer(t, m)

			c := newClient(t)
			c.get(node.base, "/login?user=alice")
			a := hs.start(t, c, func(s *nodesession.Session) error { return s.Set("goA", "from go") })
			b := hs.start(t, c, func(s *nodesession.Session) error {
				if err := s.Set("goB", 2); err != nil {
					return err
				}
				return s.Delete("n")
			})
			c.get(node.base, "/set?key=nodeKey&json="+url.QueryEscape(`{"from":"node"}`))
			a.finish(t)
			b.finish(t)

			nodeView := c.session(node.base)
			sameView(t, "after the concurrent writes", nodeView, c.session(goBase))
			for k, want := range map[string]any{"user": "alice", "goA": "from go", "goB": 2.0, "nodeKey": map[string]any{"from": "node"}, "pi": 3.141592653589793} {
				if got := norm(nodeView[k]); !sameJSON(got, want) {
					t.Errorf("%s = %v after the concurrent writes, want %v (session %v)", k, got, want, nodeView)
				}
			}
			if _, ok := nodeView["n"]; ok {
				t.Errorf("n is back after a Go request deleted it: %v", nodeView)
			}
			if s := node.stderr.String(); strings.Contains(s, "app error") || strings.Contains(s, "unhandled") {
				t.Fatalf("the Node app threw:\n%s", s)
			}
		})
	}
}

func sameJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// TestJSONStringSaveRetryBounded: a JSON-string session that another
// writer changes after every read the Go side makes. Changed twice, the
// save re-applies the request's changes on top each time and keeps every
// writer's keys; changed after every read, it gives up after a bounded
// number of attempts with ErrConflict (to ErrorHandler, which answers with
// the headers set outside the middleware) and writes nothing of its own.
func TestJSONStringSaveRetryBounded(t *testing.T) {
	for _, tc := range []struct {
		name          string
		interferences int32
		wantConflict  bool
	}{{"changed twice", 2, false}, {"changed after every read", 1000, true}} {
		t.Run(tc.name, func(t *testing.T) {
			coll := mongotest.Collection(t)
			other := goStore(t, coll) // the other writer, with a client of its own
			exp := time.Now().Add(time.Hour).UTC()
			sid := "retryboundedretryboundedretrybou"
			cookie := `{"originalMaxAge":3600000,"expires":"` + exp.Format("2006-01-02T15:04:05.000Z") + `","httpOnly":true,"path":"/"}`
			if err := insertDoc(t, other, bson.D{{Key: "_id", Value: sid}, {Key: "expires", Value: exp},
				{Key: "session", Value: `{"cookie":` + cookie + `,"user":"alice","gone":true}`}}); err != nil {
				t.Fatal(err)
			}

			// Every find the Go side sends is followed, before the Go side
			// goes on, by a write of key nodeN.
			var writes atomic.Int32
			var armed atomic.Bool
			interfere := func() {
				n := writes.Add(1)
				if n > tc.interferences {
					return
				}
				raw := findDoc(t, other, sid)
				var sess map[string]any
				if err := json.Unmarshal([]byte(raw.Lookup("session").StringValue()), &sess); err != nil {
					t.Error(err)
					return
				}
				sess["node"+strconv.Itoa(int(n))] = float64(n)
				text, _ := json.Marshal(sess)
				err := other.Backend().Do(context.Background(), "interfere", func(ctx context.Context, c *mongo.Collection) error {
					_, err := c.UpdateOne(ctx, bson.D{{Key: "_id", Value: sid}}, bson.D{{Key: "$set", Value: bson.D{{Key: "session", Value: string(text)}}}})
					return err
				})
				if err != nil {
					t.Error(err)
				}
			}
			mon := &event.CommandMonitor{Succeeded: func(_ context.Context, e *event.CommandSucceededEvent) {
				if e.CommandName == "find" && armed.Load() {
					interfere()
				}
			}}
			st, err := mongosession.New(context.Background(), mongosession.Options{
				URI: mongotest.URI(t), Database: mongotest.Database, Collection: coll,
				AutoRemove: mongosession.AutoRemoveOff, PlainIDs: true, ClientOptions: options.Client().SetMonitor(mon),
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			var handlerErr error
			m, err := nodesession.New(nodesession.Options{Store: st, Cookie: nodesession.ExpressCookie{Secrets: []string{"s"}},
				Layout: nodesession.ConnectMongo{},
				ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
					handlerErr = err
					http.Error(w, "busy", http.StatusServiceUnavailable)
				}})
			if err != nil {
				t.Fatal(err)
			}
			h := outerHeaders(m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s := nodesession.FromContext(r.Context())
				if err := s.Set("goKey", "go"); err != nil {
					t.Error(err)
				}
				if err := s.Delete("gone"); err != nil {
					t.Error(err)
				}
				w.Header().Set("X-Handler", "1")
				_, _ = io.WriteString(w, "ok")
			})))
			req := httptest.NewRequest("GET", "/", nil)
			req.Header.Set("Cookie", "connect.sid="+url.QueryEscape(expressSign("s", sid)))
			rec := httptest.NewRecorder()
			armed.Store(true)
			h.ServeHTTP(rec, req)
			armed.Store(false)

			var stored map[string]any
			if err := json.Unmarshal([]byte(findDoc(t, other, sid).Lookup("session").StringValue()), &stored); err != nil {
				t.Fatal(err)
			}
			if !tc.wantConflict {
				if rec.Code != 200 || handlerErr != nil {
					t.Fatalf("status %d, error %v; want the save to succeed", rec.Code, handlerErr)
				}
				for _, k := range []string{"user", "node1", "node2", "goKey"} {
					if _, ok := stored[k]; !ok {
						t.Errorf("%s lost: stored %v", k, stored)
					}
				}
				if _, ok := stored["gone"]; ok {
					t.Errorf("the deleted key is back: %v", stored)
				}
				return
			}
			if rec.Code != http.StatusServiceUnavailable || !errors.Is(handlerErr, nodesession.ErrConflict) {
				t.Fatalf("status %d, error %v; want ErrorHandler's 503 with ErrConflict", rec.Code, handlerErr)
			}
			if rec.Header().Get("X-Request-Id") != "req-1" || rec.Header().Get("X-Handler") != "" {
				t.Errorf("after the failed save: headers %v; want the outer middleware's, not the handler's", rec.Header())
			}
			if _, ok := stored["goKey"]; ok || stored["gone"] != true {
				t.Errorf("a save that gave up wrote part of its changes: %v", stored)
			}
			// One write of the other writer per read of the Go side: the
			// load and one re-read per failed attempt, bounded.
			if n := writes.Load(); n < 3 || n > 20 {
				t.Errorf("%d reads before giving up; want a small bound", n)
			}
		})
	}
}

// outerHeaders is middleware outside the session's that sets a header
// first.
func outerHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", "req-1")
		next.ServeHTTP(w, r)
	})
}

// TestSaveCommands proves what goes over the wire: a JSON-string session
// nobody else changed is saved with one conditional update (the load's
// find and that update: no extra read); a Regenerate is one findAndModify
// (the old document deleted and read back) and one upsert under the new
// id.
func TestSaveCommands(t *testing.T) {
	cmds := mongotest.DataCommands()
	st := mongotest.NewRecordedStore(t, mongosession.Options{PlainIDs: true, AutoRemove: mongosession.AutoRemoveOff}, cmds)
	m, err := nodesession.New(nodesession.Options{Store: st, Cookie: nodesession.ExpressCookie{Secrets: []string{"s"}}, Layout: nodesession.ConnectMongo{}})
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour).UTC()
	sid := "savecommandssavecommandssavecomm"
	cookie := `{"originalMaxAge":3600000,"expires":"` + exp.Format("2006-01-02T15:04:05.000Z") + `","httpOnly":true,"path":"/"}`
	if err := insertDoc(t, st, bson.D{{Key: "_id", Value: sid}, {Key: "expires", Value: exp},
		{Key: "session", Value: `{"cookie":` + cookie + `,"user":"alice"}`}}); err != nil {
		t.Fatal(err)
	}
	header := "connect.sid=" + url.QueryEscape(expressSign("s", sid))
	cmds.Reset()
	serve(t, m, header, func(s *nodesession.Session) {
		if err := s.Set("n", 1); err != nil {
			t.Fatal(err)
		}
	})
	if got := cmds.TakeNames(); !slices.Equal(got, []string{"find", "update"}) {
		t.Errorf("an uncontended JSON-string save sent %v, want [find update]", got)
	}
	serve(t, m, header, func(s *nodesession.Session) {
		if err := s.Regenerate(); err != nil {
			t.Fatal(err)
		}
	})
	if got := cmds.TakeNames(); !slices.Equal(got, []string{"find", "findAndModify", "update"}) {
		t.Errorf("a Regenerate sent %v, want [find findAndModify update]", got)
	}
}
