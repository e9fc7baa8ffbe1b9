package robustness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/gofiber/fiber/v3"
	"github.com/gofiber/fiber/v3/middleware/recover"
	fibersession "github.com/gofiber/fiber/v3/middleware/session"
	"github.com/gorilla/sessions"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/fiberstore"
	"github.com/mongosession/mongosession/gorillastore"
	"github.com/mongosession/mongosession/httpsession"
)

// The seeded bugs: app-level stand-ins for a broken library, which the
// checker must catch.
const (
	// BugLostIncrement: the native app's counter is a read, then a write
	// (GetInt64, Put) instead of Incr.
	BugLostIncrement = "lost-increment"
	// BugResurrection: the scs app's store deletes a session outright and
	// commits by upserting over whatever is there, ended or not.
	BugResurrection = "resurrection"
	// BugFixation: the native app forwards the writes of a request whose
	// token was renewed away during it to the renewed session.
	BugFixation = "fixation"
)

// session is one request's session, as each face gives it to a handler.
type session interface {
	get(key string) string
	put(key, val string)
	incr() (int64, error) // add one to "n"
	login(user string) error
	logout() error
	revoke(user string) (int64, error)
}

// errEnded is a face's "the session ended during the request, nothing was
// written" (httpsession.ErrSessionEnded).
var errEnded = errors.New("session ended")

// holds lets the harness keep a request open in its handler, after the
// handler did its session work and before the session is saved.
type holds struct {
	mu sync.Mutex
	m  map[string]*hold
}

type hold struct {
	arrived, release chan struct{}
	once             sync.Once
}

func (hs *holds) get(id string) *hold {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.m == nil {
		hs.m = map[string]*hold{}
	}
	h := hs.m[id]
	if h == nil {
		h = &hold{arrived: make(chan struct{}), release: make(chan struct{})}
		hs.m[id] = h
	}
	return h
}

// serve runs one request's operation on s and returns the answer. Every
// operation but logout and revoke reads the session's own id, "ls", first
// (blind: right after its increment), and stores a new one when there is
// none: the answer's ls tells
// the checker which logical session served the request, and new=1 that
// the request found none.
func serve(s session, q url.Values, ls func() string, hs *holds) (int, string) {
	var parts []string
	fail := func(err error) (int, string) {
		if errors.Is(err, errEnded) {
			return http.StatusConflict, "ended"
		}
		return http.StatusServiceUnavailable, "error: " + err.Error()
	}
	switch Kind(q.Get("op")) {
	case Logout:
		if err := s.logout(); err != nil {
			return fail(err)
		}
		parts = append(parts, "ok=1")
	case Revoke:
		n, err := s.revoke(q.Get("u"))
		if err != nil {
			return fail(err)
		}
		parts = append(parts, "revoked="+strconv.FormatInt(n, 10))
	default:
		var blind int64
		if Kind(q.Get("op")) == Blind { // the counter first, on a session not loaded yet
			n, err := s.incr()
			if err != nil {
				return fail(err)
			}
			blind = n
		}
		id, fresh := s.get("ls"), "0"
		if id == "" {
			id, fresh = ls(), "1"
			s.put("ls", id)
		}
		parts = append(parts, "ls="+id, "new="+fresh)
		switch Kind(q.Get("op")) {
		case Put:
			s.put(q.Get("k"), q.Get("v"))
		case Get:
			parts = append(parts, "v="+s.get(q.Get("k")))
		case Whoami:
			parts = append(parts, "u="+s.get("uid"))
		case Incr:
			n, err := s.incr()
			if err != nil {
				return fail(err)
			}
			parts = append(parts, "n="+strconv.FormatInt(n, 10))
		case Login:
			if err := s.login(q.Get("u")); err != nil {
				return fail(err)
			}
		case Blind:
			parts = append(parts, "n="+strconv.FormatInt(blind, 10))
		default:
			return http.StatusBadRequest, "unknown op"
		}
	}
	if id := q.Get("hold"); id != "" {
		h := hs.get(id)
		h.once.Do(func() { close(h.arrived) })
		select {
		case <-h.release:
		case <-time.After(time.Minute):
		}
	}
	return http.StatusOK, strings.Join(parts, " ")
}

// parseAnswer splits "k=v k=v" into a map.
func parseAnswer(s string) map[string]string {
	m := map[string]string{}
	for _, f := range strings.Fields(s) {
		k, v, _ := strings.Cut(f, "=")
		m[k] = v
	}
	return m
}

// face is one of the four ways to use the library, as an app.
type face struct {
	name   string
	cookie string // the session cookie's name
	bytes  bool   // a byte-level face: last writer wins per session
	// start serves one app instance on ln over store.
	start func(ln net.Listener, store *mongosession.Store, inst int, hs *holds, bug string) (stop func())
}

// Faces are the faces the harness runs, by name.
var Faces = map[string]*face{
	"scs":     {name: "scs", cookie: "session", bytes: true, start: startSCS},
	"gorilla": {name: "gorilla", cookie: "session", bytes: true, start: startGorilla},
	"fiber":   {name: "fiber", cookie: "session_id", bytes: true, start: startFiber},
	"native":  {name: "native", cookie: "session", bytes: false, start: startNative},
}

// lsGen returns a generator of logical-session ids unique to an instance.
func lsGen(inst int) func() string {
	var n atomic.Int64
	return func() string { return fmt.Sprintf("i%d.%d", inst, n.Add(1)) }
}

func serveHTTP(ln net.Listener, h http.Handler) (stop func()) {
	// ErrorLog: scs reports a failed commit's second WriteHeader there
	srv := &http.Server{Handler: h, ReadHeaderTimeout: time.Minute, ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = srv.Serve(ln) }()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
}

// --- scs ---

type scsSession struct {
	sm  *scs.SessionManager
	ctx context.Context
}

func (s scsSession) get(k string) string { return s.sm.GetString(s.ctx, k) }
func (s scsSession) put(k, v string)     { s.sm.Put(s.ctx, k, v) }
func (s scsSession) logout() error       { return s.sm.Destroy(s.ctx) }
func (s scsSession) revoke(string) (int64, error) {
	return 0, errors.New("no revocation in scs")
}
func (s scsSession) incr() (int64, error) { return byteIncr(s) }
func (s scsSession) login(u string) error {
	if err := s.sm.RenewToken(s.ctx); err != nil {
		return err
	}
	s.put("uid", u)
	return nil
}

// byteIncr is the counter of the byte-level faces: the session is read
// and written whole, so an increment is a read and a write.
func byteIncr(s session) (int64, error) {
	n, _ := strconv.ParseInt(s.get("n"), 10, 64)
	n++
	s.put("n", strconv.FormatInt(n, 10))
	return n, nil
}

func startSCS(ln net.Listener, store *mongosession.Store, inst int, hs *holds, bug string) func() {
	sm := scs.New()
	sm.Lifetime = time.Hour
	sm.Store = store
	if bug == BugResurrection {
		sm.Store = blindStore{store}
	}
	sm.ErrorFunc = func(w http.ResponseWriter, _ *http.Request, err error) {
		http.Error(w, "error: "+err.Error(), http.StatusServiceUnavailable)
	}
	ls := lsGen(inst)
	return serveHTTP(ln, sm.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, body := serve(scsSession{sm, r.Context()}, r.URL.Query(), ls, hs)
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	})))
}

// blindStore is the seeded resurrection: an scs store that deletes a
// session outright and commits over whatever is stored, the way a naive
// byte-level store does. It goes through the store's public methods and
// its collection only.
type blindStore struct{ s *mongosession.Store }

func (b blindStore) Find(token string) ([]byte, bool, error) {
	return b.FindCtx(context.Background(), token)
}
func (b blindStore) Commit(token string, data []byte, expiry time.Time) error {
	return b.CommitCtx(context.Background(), token, data, expiry)
}
func (b blindStore) Delete(token string) error { return b.DeleteCtx(context.Background(), token) }

func (b blindStore) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	return b.s.FindCtx(ctx, token)
}

// CommitCtx clears whatever the store keeps for an ended session, then
// commits: an upsert that nothing stops.
func (b blindStore) CommitCtx(ctx context.Context, token string, data []byte, expiry time.Time) error {
	if _, found, err := b.s.FindCtx(ctx, token); err == nil && !found {
		if err := b.DeleteCtx(ctx, token); err != nil {
			return err
		}
	}
	return b.s.CommitCtx(ctx, token, data, expiry)
}

// DeleteCtx deletes the document outright.
func (b blindStore) DeleteCtx(ctx context.Context, token string) error {
	id, ok := b.s.Backend().StoredID(token)
	if !ok {
		return nil
	}
	_, err := b.s.Collection().DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
	return err
}

// --- gorilla ---

type gorillaSession struct {
	gs      *gorillastore.Store
	s       *sessions.Session
	r       *http.Request
	w       http.ResponseWriter
	deleted bool
}

func (g *gorillaSession) get(k string) string { v, _ := g.s.Values[k].(string); return v }
func (g *gorillaSession) put(k, v string)     { g.s.Values[k] = v }
func (g *gorillaSession) incr() (int64, error) {
	return byteIncr(g)
}
func (g *gorillaSession) revoke(string) (int64, error) {
	return 0, errors.New("no revocation in gorilla")
}

func (g *gorillaSession) logout() error {
	g.s.Options.MaxAge = -1
	g.deleted = true
	return g.gs.Save(g.r, g.w, g.s)
}

// login renews the session ID as gorilla apps do: delete the old record,
// and save the values under a new session.
func (g *gorillaSession) login(u string) error {
	values := g.s.Values
	g.s.Options.MaxAge = -1
	if err := g.gs.Save(g.r, g.w, g.s); err != nil {
		return err
	}
	ns := sessions.NewSession(g.gs, g.s.Name())
	opts := *g.gs.Options
	ns.Options = &opts
	ns.IsNew = true
	ns.Values = values
	g.s = ns
	g.put("uid", u)
	return nil
}

func startGorilla(ln net.Listener, store *mongosession.Store, inst int, hs *holds, bug string) func() {
	gs := gorillastore.New(store) // no key pairs: the cookie is the bare ID
	gs.Options.MaxAge = 3600
	ls := lsGen(inst)
	return serveHTTP(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := gs.Get(r, "session")
		if err != nil {
			http.Error(w, "error: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		g := &gorillaSession{gs: gs, s: s, r: r, w: w}
		code, body := serve(g, r.URL.Query(), ls, hs)
		if code == http.StatusOK && !g.deleted {
			if err := gs.Save(r, w, g.s); err != nil {
				http.Error(w, "error: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}))
}

// --- fiber ---

type fiberSession struct{ m *fibersession.Middleware }

func (f fiberSession) get(k string) string { v, _ := f.m.Get(k).(string); return v }
func (f fiberSession) put(k, v string)     { f.m.Set(k, v) }
func (f fiberSession) incr() (int64, error) {
	return byteIncr(f)
}
func (f fiberSession) logout() error { return f.m.Destroy() }
func (f fiberSession) revoke(string) (int64, error) {
	return 0, errors.New("no revocation in fiber")
}
func (f fiberSession) login(u string) error {
	if err := f.m.Regenerate(); err != nil {
		return err
	}
	f.put("uid", u)
	return nil
}

func startFiber(ln net.Listener, store *mongosession.Store, inst int, hs *holds, bug string) func() {
	answer := func(c fiber.Ctx, err error) error {
		return c.Status(http.StatusServiceUnavailable).SendString("error: " + err.Error())
	}
	app := fiber.New(fiber.Config{ErrorHandler: answer})
	app.Use(recover.New()) // fiber's session middleware panics when a load fails
	app.Use(fibersession.New(fibersession.Config{
		Storage:      fiberstore.New(store),
		IdleTimeout:  time.Hour,
		ErrorHandler: func(c fiber.Ctx, err error) { _ = answer(c, err) },
	}))
	ls := lsGen(inst)
	app.Get("/", func(c fiber.Ctx) error {
		q, _ := url.ParseQuery(string(c.Request().URI().QueryString()))
		code, body := serve(fiberSession{fibersession.FromContext(c)}, q, ls, hs)
		return c.Status(code).SendString(body)
	})
	go func() { _ = app.Listener(ln, fiber.ListenConfig{DisableStartupMessage: true}) }()
	return func() { _ = app.ShutdownWithTimeout(10 * time.Second) }
}

// --- native ---

type nativeSession struct {
	m        *httpsession.Manager
	ctx      context.Context
	lostIncr bool
}

func (n nativeSession) get(k string) string { return n.m.GetString(n.ctx, k) }
func (n nativeSession) put(k, v string)     { n.m.Put(n.ctx, k, v) }
func (n nativeSession) incr() (int64, error) {
	if n.lostIncr {
		v := n.m.GetInt64(n.ctx, "n") + 1
		n.m.Put(n.ctx, "n", v)
		return v, nil
	}
	v, err := n.m.Incr(n.ctx, "n", 1)
	if errors.Is(err, httpsession.ErrSessionEnded) {
		return 0, errEnded
	}
	return v, err
}
func (n nativeSession) logout() error { return n.m.Destroy(n.ctx) }
func (n nativeSession) revoke(u string) (int64, error) {
	return n.m.RevokeUser(n.ctx, u)
}
func (n nativeSession) login(u string) error {
	err := n.m.RenewToken(n.ctx)
	if errors.Is(err, httpsession.ErrSessionEnded) {
		return errEnded
	}
	if err != nil {
		return err
	}
	n.m.SetUser(n.ctx, u)
	n.put("uid", u)
	return nil
}

func startNative(ln net.Listener, store *mongosession.Store, inst int, hs *holds, bug string) func() {
	m := httpsession.New(store)
	m.Lifetime = time.Hour
	m.ErrorFunc = func(w http.ResponseWriter, _ *http.Request, err error) {
		http.Error(w, "error: "+err.Error(), http.StatusServiceUnavailable)
	}
	ls := lsGen(inst)
	var h http.Handler = m.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, body := serve(nativeSession{m, r.Context(), bug == BugLostIncrement}, r.URL.Query(), ls, hs)
		w.WriteHeader(code)
		_, _ = w.Write([]byte(body))
	}))
	if bug == BugFixation {
		h = forwarding(m, h)
	}
	return serveHTTP(ln, h)
}

// forwarding is the seeded fixation: it remembers which token each login
// renewed to, and when a request that was sent with a token renewed away
// during it put a value, it puts that value again into the renewed
// session (through the manager, as a request with the new cookie): the
// "forwarding" of a fenced request's writes.
func forwarding(m *httpsession.Manager, next http.Handler) http.Handler {
	var mu sync.Mutex
	successor := map[string]string{}
	put := m.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.Put(r.Context(), r.URL.Query().Get("k"), r.URL.Query().Get("v"))
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var old string
		if c, err := r.Cookie("session"); err == nil {
			old = c.Value
		}
		next.ServeHTTP(w, r)
		q := r.URL.Query()
		if Kind(q.Get("op")) == Login && old != "" {
			for _, c := range (&http.Response{Header: w.Header()}).Cookies() {
				if c.Name == "session" && c.Value != "" && c.Value != old {
					mu.Lock()
					successor[old] = c.Value
					mu.Unlock()
				}
			}
		}
		if Kind(q.Get("op")) == Put && old != "" {
			mu.Lock()
			next, ok := successor[old]
			mu.Unlock()
			if ok {
				fr := httptest.NewRequest(http.MethodGet, r.URL.String(), nil)
				fr.AddCookie(&http.Cookie{Name: "session", Value: next})
				put.ServeHTTP(httptest.NewRecorder(), fr)
			}
		}
	})
}
