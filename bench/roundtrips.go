package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/gofiber/fiber/v3"
	fibersession "github.com/gofiber/fiber/v3/middleware/session"
	"github.com/gorilla/sessions"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/fiberstore"
	"github.com/mongosession/mongosession/gorillastore"
	"github.com/mongosession/mongosession/httpsession"
)

// Request kinds of the round-trip section, in table order.
const (
	kindNew       = "first write (new session)"
	kindRead      = "read-only"
	kindChange    = "one value changed"
	kindSet       = "value set, session not read"
	kindLogin     = "login with ID renewal"
	kindLogout    = "logout"
	kindIdleRead  = "read-only, idle timeout"
	kindIdleTouch = "read-only, idle timeout, touch window passed"
)

var requestKinds = []string{kindNew, kindRead, kindChange, kindSet, kindLogin, kindLogout, kindIdleRead, kindIdleTouch}

// Faces of the round-trip section, in table order.
var faceNames = []string{"scs", "gorilla", "fiber", "native"}

// RoundTripResult is what one request of one face sent to MongoDB.
type RoundTripResult struct {
	Face, Kind string
	// Commands are the names of the commands the request sent, in order.
	Commands []string
	// WrittenTwice lists the _ids written by more than one command of the
	// request (target: none).
	WrittenTwice []string
	// Note explains a cell that was not measured.
	Note string
}

// recorder keeps the commands a client sends, without the handshakes and
// heartbeats, which are not operations.
type recorder struct {
	mu   sync.Mutex
	cmds []recorded
}

type recorded struct {
	name string
	body bson.Raw
}

func (r *recorder) monitor() *event.CommandMonitor {
	return &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		switch e.CommandName {
		case "hello", "isMaster", "ismaster", "ping", "endSessions", "saslStart", "saslContinue", "buildInfo":
			return
		}
		r.mu.Lock()
		r.cmds = append(r.cmds, recorded{name: e.CommandName, body: append(bson.Raw(nil), e.Command...)})
		r.mu.Unlock()
	}}
}

// take returns the commands recorded since the last take.
func (r *recorder) take() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.cmds
	r.cmds = nil
	return c
}

// writtenIDs returns the _ids a write command targets.
func writtenIDs(c recorded) []string {
	var field, sub string
	switch c.name {
	case "update":
		field, sub = "updates", "q"
	case "delete":
		field, sub = "deletes", "q"
	case "insert":
		field = "documents"
	case "findAndModify":
		return []string{c.body.Lookup("query", "_id").String()}
	default:
		return nil
	}
	arr, ok := c.body.Lookup(field).ArrayOK()
	if !ok {
		return []string{"?" + c.name}
	}
	vals, _ := arr.Values()
	var ids []string
	for _, v := range vals {
		doc, ok := v.DocumentOK()
		if !ok {
			continue
		}
		if sub != "" {
			doc, _ = doc.Lookup(sub).DocumentOK()
		}
		ids = append(ids, doc.Lookup("_id").String())
	}
	return ids
}

func writtenTwice(cmds []recorded) []string {
	seen := map[string]int{}
	var twice []string
	for _, c := range cmds {
		for _, id := range writtenIDs(c) {
			seen[id]++
			if seen[id] == 2 {
				twice = append(twice, id)
			}
		}
	}
	return twice
}

// browser sends requests to a face with a cookie jar, as a browser would.
type browser struct {
	jar  *cookiejar.Jar
	send func(*http.Request) (*http.Response, error)
}

var site = &url.URL{Scheme: "http", Host: "bench.test", Path: "/"}

func newBrowser(send func(*http.Request) (*http.Response, error)) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{jar: jar, send: send}
}

// get requests path and returns the body.
func (b *browser) get(path string) (string, error) {
	req := httptest.NewRequest(http.MethodGet, "http://bench.test"+path, nil)
	for _, c := range b.jar.Cookies(site) {
		req.AddCookie(c)
	}
	resp, err := b.send(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s: %s", path, resp.Status, body)
	}
	b.jar.SetCookies(site, resp.Cookies())
	return string(body), nil
}

func serveHTTP(h http.Handler) func(*http.Request) (*http.Response, error) {
	return func(req *http.Request) (*http.Response, error) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Result(), nil
	}
}

// faceApp is one face serving the four routes of the scenario:
//
//	/read    answers the "views" value
//	/put     increments "views" and answers it
//	/login   renews the session ID and stores the user
//	/logout  destroys the session
type faceApp struct {
	send  func(*http.Request) (*http.Response, error)
	close func()
}

// newFace builds face on its own collection of the monitored client. idle
// is the idle timeout (0: none); touch the native manager's TouchAfter.
func newFace(ctx context.Context, face string, client *mongo.Client, cfg Config, coll string, idle, touch time.Duration) (*faceApp, error) {
	s, err := mongosession.New(ctx, mongosession.Options{
		Client: client, Database: cfg.Database, Collection: coll,
		AutoRemove: mongosession.AutoRemoveOff, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, err
	}
	app := &faceApp{close: func() { _ = s.Close() }}
	switch face {
	case "scs":
		sm := scs.New()
		sm.Store = s
		sm.IdleTimeout = idle
		mux := http.NewServeMux()
		mux.HandleFunc("/read", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, sm.GetInt(r.Context(), "views"))
		})
		mux.HandleFunc("/put", func(w http.ResponseWriter, r *http.Request) {
			n := sm.GetInt(r.Context(), "views") + 1
			sm.Put(r.Context(), "views", n)
			fmt.Fprint(w, n)
		})
		mux.HandleFunc("/set", func(w http.ResponseWriter, r *http.Request) {
			sm.Put(r.Context(), "theme", "dark")
		})
		mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
			if err := sm.RenewToken(r.Context()); err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			sm.Put(r.Context(), "user", "alice")
			fmt.Fprint(w, sm.GetInt(r.Context(), "views"))
		})
		mux.HandleFunc("/logout", func(w http.ResponseWriter, r *http.Request) {
			if err := sm.Destroy(r.Context()); err != nil {
				http.Error(w, err.Error(), 500)
			}
		})
		app.send = serveHTTP(sm.LoadAndSave(mux))

	case "gorilla":
		gs := gorillastore.New(s, []byte("0123456789abcdef0123456789abcdef"))
		handle := func(fn func(w http.ResponseWriter, r *http.Request, sess *sessions.Session) error) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				sess, err := gs.Get(r, "session")
				if err == nil {
					err = fn(w, r, sess)
				}
				if err != nil {
					http.Error(w, err.Error(), 500)
				}
			}
		}
		views := func(sess *sessions.Session) int { n, _ := sess.Values["views"].(int); return n }
		mux := http.NewServeMux()
		// Handlers save on every request, as gorilla applications do; the
		// store skips writing an unchanged session.
		mux.HandleFunc("/read", handle(func(w http.ResponseWriter, r *http.Request, sess *sessions.Session) error {
			if err := sess.Save(r, w); err != nil {
				return err
			}
			_, err := fmt.Fprint(w, views(sess))
			return err
		}))
		mux.HandleFunc("/put", handle(func(w http.ResponseWriter, r *http.Request, sess *sessions.Session) error {
			n := views(sess) + 1
			sess.Values["views"] = n
			if err := sess.Save(r, w); err != nil {
				return err
			}
			_, err := fmt.Fprint(w, n)
			return err
		}))
		mux.HandleFunc("/set", handle(func(w http.ResponseWriter, r *http.Request, sess *sessions.Session) error {
			sess.Values["theme"] = "dark"
			return sess.Save(r, w)
		}))
		// gorilla/sessions has no ID renewal: delete the session (MaxAge
		// -1), then save its values under a new ID.
		mux.HandleFunc("/login", handle(func(w http.ResponseWriter, r *http.Request, sess *sessions.Session) error {
			values := sess.Values
			sess.Options.MaxAge = -1
			if err := sess.Save(r, w); err != nil {
				return err
			}
			opts := *gs.Options
			sess.Options = &opts
			sess.Values = values
			sess.Values["user"] = "alice"
			sess.IsNew = true
			if err := sess.Save(r, w); err != nil {
				return err
			}
			_, err := fmt.Fprint(w, views(sess))
			return err
		}))
		mux.HandleFunc("/logout", handle(func(w http.ResponseWriter, r *http.Request, sess *sessions.Session) error {
			sess.Options.MaxAge = -1
			return sess.Save(r, w)
		}))
		app.send = serveHTTP(mux)

	case "fiber":
		fa := fiber.New()
		if idle == 0 {
			// fiber's session middleware always has an idle timeout
			// (default 30 minutes) and saves every request to extend it.
			idle = 30 * time.Minute
		}
		handler, _ := fibersession.NewWithStore(fibersession.Config{Storage: fiberstore.New(s), IdleTimeout: idle})
		fa.Use(handler)
		views := func(sess *fibersession.Middleware) int { n, _ := sess.Get("views").(int); return n }
		fa.Get("/read", func(c fiber.Ctx) error {
			return c.SendString(strconv.Itoa(views(fibersession.FromContext(c))))
		})
		fa.Get("/put", func(c fiber.Ctx) error {
			sess := fibersession.FromContext(c)
			n := views(sess) + 1
			sess.Set("views", n)
			return c.SendString(strconv.Itoa(n))
		})
		fa.Get("/set", func(c fiber.Ctx) error {
			fibersession.FromContext(c).Set("theme", "dark")
			return nil
		})
		fa.Get("/login", func(c fiber.Ctx) error {
			sess := fibersession.FromContext(c)
			if err := sess.Regenerate(); err != nil {
				return err
			}
			sess.Set("user", "alice")
			return c.SendString(strconv.Itoa(views(sess)))
		})
		fa.Get("/logout", func(c fiber.Ctx) error {
			return fibersession.FromContext(c).Destroy()
		})
		app.send = func(req *http.Request) (*http.Response, error) {
			return fa.Test(req, fiber.TestConfig{Timeout: 0})
		}

	case "native":
		m := httpsession.New(s)
		m.IdleTimeout = idle
		m.TouchAfter = touch
		mux := http.NewServeMux()
		mux.HandleFunc("/read", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, m.GetInt(r.Context(), "views"))
		})
		// The counter is an atomic Incr, as in examples/native.
		mux.HandleFunc("/put", func(w http.ResponseWriter, r *http.Request) {
			n, err := m.Incr(r.Context(), "views", 1)
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			fmt.Fprint(w, n)
		})
		mux.HandleFunc("/set", func(w http.ResponseWriter, r *http.Request) {
			m.Put(r.Context(), "theme", "dark")
		})
		// SetUser before RenewToken: the renewal writes the user with the
		// new token in one update (see httpsession.SetUser).
		mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
			m.SetUser(r.Context(), "alice")
			if err := m.RenewToken(r.Context()); err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			fmt.Fprint(w, m.GetInt(r.Context(), "views"))
		})
		mux.HandleFunc("/logout", func(w http.ResponseWriter, r *http.Request) {
			if err := m.Destroy(r.Context()); err != nil {
				http.Error(w, err.Error(), 500)
			}
		})
		app.send = serveHTTP(m.LoadAndSave(mux))

	default:
		app.close()
		return nil, fmt.Errorf("unknown face %q", face)
	}
	return app, nil
}

// step is one request of a scenario: its path, the body it must answer,
// and the kind it is measured as ("" for a request that only prepares).
type step struct {
	path, want, kind string
	sleep            time.Duration
}

var mainScenario = []step{
	{path: "/put", want: "1", kind: kindNew},
	{path: "/read", want: "1", kind: kindRead},
	{path: "/put", want: "2", kind: kindChange},
	{path: "/set", kind: kindSet},
	{path: "/login", want: "2", kind: kindLogin},
	{path: "/read", want: "2"},
	{path: "/logout", kind: kindLogout},
	{path: "/read", want: "0"},
}

func idleScenario(touch time.Duration) []step {
	return []step{
		{path: "/put", want: "1"},
		{path: "/read", want: "1", kind: kindIdleRead},
		{path: "/read", want: "1", kind: kindIdleTouch, sleep: 2 * touch},
	}
}

func runScenario(ctx context.Context, app *faceApp, rec *recorder, face string, steps []step, out map[string]*RoundTripResult) error {
	b := newBrowser(app.send)
	for _, st := range steps {
		time.Sleep(st.sleep)
		rec.take()
		body, err := b.get(st.path)
		if err != nil {
			return fmt.Errorf("%s: %w", face, err)
		}
		if st.want != "" && strings.TrimSpace(body) != st.want {
			return fmt.Errorf("%s: GET %s answered %q, want %q", face, st.path, body, st.want)
		}
		cmds := rec.take()
		if st.kind == "" {
			continue
		}
		r := &RoundTripResult{Face: face, Kind: st.kind, WrittenTwice: writtenTwice(cmds)}
		for _, c := range cmds {
			r.Commands = append(r.Commands, c.name)
		}
		out[st.kind] = r
	}
	return nil
}

func runRoundTrips(ctx context.Context, cfg Config, w io.Writer) ([]RoundTripResult, error) {
	rec := &recorder{}
	client, err := mongo.Connect(options.Client().ApplyURI(cfg.URI).SetMonitor(rec.monitor()))
	if err != nil {
		return nil, err
	}
	defer client.Disconnect(context.Background())

	const (
		idle = 30 * time.Minute
		// native's TouchAfter in the idle scenario: the read right after
		// the put must come within it (or it touches), even on a loaded
		// machine, and the touch step sleeps twice it.
		touch = 500 * time.Millisecond
	)
	var results []RoundTripResult
	for _, face := range faceNames {
		out := map[string]*RoundTripResult{}
		app, err := newFace(ctx, face, client, cfg, "rt_"+face, 0, 0)
		if err != nil {
			return nil, err
		}
		err = runScenario(ctx, app, rec, face, mainScenario, out)
		app.close()
		if err != nil {
			return nil, err
		}
		switch face {
		case "gorilla":
			out[kindIdleRead] = &RoundTripResult{Note: "n/a"}
			out[kindIdleTouch] = &RoundTripResult{Note: "n/a"}
		default:
			app, err := newFace(ctx, face, client, cfg, "rt_idle_"+face, idle, touch)
			if err != nil {
				return nil, err
			}
			steps := idleScenario(touch)
			if face != "native" {
				steps = steps[:2] // no touch window: every request is alike
				out[kindIdleTouch] = &RoundTripResult{Note: "as above"}
			}
			err = runScenario(ctx, app, rec, face, steps, out)
			app.close()
			if err != nil {
				return nil, err
			}
		}
		for _, kind := range requestKinds {
			r := out[kind]
			if r == nil {
				r = &RoundTripResult{Note: "not measured"}
			}
			r.Face, r.Kind = face, kind
			results = append(results, *r)
		}
	}
	printRoundTrips(w, results)
	return results, nil
}

func (r RoundTripResult) cell() string {
	if r.Note != "" {
		return r.Note
	}
	s := strconv.Itoa(len(r.Commands))
	if len(r.Commands) > 0 {
		s += ": " + strings.Join(r.Commands, ", ")
	}
	if len(r.WrittenTwice) > 0 {
		s += fmt.Sprintf(" (**%d _id written twice**)", len(r.WrittenTwice))
	}
	return s
}

func printRoundTrips(w io.Writer, rs []RoundTripResult) {
	fmt.Fprintf(w, "## 2. MongoDB commands per request\n\n")
	fmt.Fprintln(w, "Counted with an event.CommandMonitor on the client given to each face's store (handshakes and heartbeats left out). Idle timeout: 30 min; native's TouchAfter: 500 ms in the last two rows.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| request | "+strings.Join(faceNames, " | ")+" |")
	fmt.Fprintln(w, "|---"+strings.Repeat("|---", len(faceNames))+"|")
	twice := 0
	for _, kind := range requestKinds {
		cells := []string{kind}
		for _, face := range faceNames {
			for _, r := range rs {
				if r.Face == face && r.Kind == kind {
					cells = append(cells, r.cell())
					twice += len(r.WrittenTwice)
				}
			}
		}
		fmt.Fprintln(w, "| "+strings.Join(cells, " | ")+" |")
	}
	fmt.Fprintln(w)
	if twice == 0 {
		fmt.Fprintln(w, "No request wrote any document twice.")
	} else {
		fmt.Fprintf(w, "%d documents were written twice in one request.\n", twice)
	}
	fmt.Fprintln(w)
}
