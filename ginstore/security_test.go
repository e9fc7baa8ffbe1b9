package ginstore_test

// The security suite of issue 4 through gin and gin-contrib/sessions. The
// face is gorillastore's (its security_test.go covers IDs, the dump, key
// rotation and injection at the gorilla level); what gin adds, and what
// is tested here, is its middleware: gin-contrib/sessions logs every load
// error to slog's default logger and carries on with a fresh session, so
// the log test captures that logger too, and hostile cookies, stored values
// and a moved ciphertext must give a fresh session through it, never a
// 500.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-contrib/sessions"
	"github.com/gin-gonic/gin"
	"github.com/gorilla/securecookie"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/ginstore"
	"github.com/mongosession/mongosession/internal/mongotest"
	"github.com/mongosession/mongosession/internal/storetest"
)

// ginSecText is a concurrency-safe sink for log output and errors.
type ginSecText struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	errs []error
}

func (s *ginSecText) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *ginSecText) add(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, err)
}

func (s *ginSecText) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func (s *ginSecText) all() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.errs...)
}

func (s *ginSecText) hasCorrupt() bool {
	for _, err := range s.all() {
		if errors.Is(err, mongosession.ErrCorrupt) {
			return true
		}
	}
	return false
}

// ginSecMonitor records every filter sent to one collection.
type ginSecMonitor struct {
	coll    string
	mu      sync.Mutex
	filters []bson.Raw
}

func (m *ginSecMonitor) started(_ context.Context, e *event.CommandStartedEvent) {
	if s, ok := e.Command.Lookup(e.CommandName).StringValueOK(); !ok || s != m.coll {
		return
	}
	var fs []bson.Raw
	add := func(v bson.RawValue) {
		if d, ok := v.DocumentOK(); ok {
			fs = append(fs, bytes.Clone(d))
		}
	}
	each := func(array, field string) {
		vals, _ := e.Command.Lookup(array).Array().Values()
		for _, v := range vals {
			add(v.Document().Lookup(field))
		}
	}
	switch e.CommandName {
	case "find":
		add(e.Command.Lookup("filter"))
	case "update":
		each("updates", "q")
	case "delete":
		each("deletes", "q")
	case "count", "findAndModify":
		add(e.Command.Lookup("query"))
	}
	m.mu.Lock()
	m.filters = append(m.filters, fs...)
	m.mu.Unlock()
}

// check fails the test unless every filter holds only _id, as a string,
// and the expiry as {$gt: date}; it returns the _id values looked up.
func (m *ginSecMonitor) check(t *testing.T) []string {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for _, f := range m.filters {
		elems, err := f.Elements()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range elems {
			switch v := e.Value(); e.Key() {
			case "_id":
				s, ok := v.StringValueOK()
				if !ok {
					t.Errorf("a filter's _id is BSON %s, not a string: %.100s", v.Type, v)
				}
				ids = append(ids, s)
			case mongosession.DefaultExpiresKey:
				d, ok := v.DocumentOK()
				ops, _ := d.Elements()
				if !ok || len(ops) != 1 || ops[0].Key() != "$gt" || ops[0].Value().Type != bson.TypeDateTime {
					t.Errorf("expiry condition %.100s; want {$gt: date}", v)
				}
			default:
				t.Errorf("unexpected filter field %.100q", e.Key())
			}
		}
	}
	m.filters = nil
	return ids
}

// ginSecEnv is a store whose client records every filter, whose logger
// (Debug) and OnError capture everything, beside a client of the test's
// own on the same collection.
type ginSecEnv struct {
	ms      *mongosession.Store
	mon     *ginSecMonitor
	logs    *ginSecText
	onError *ginSecText
	raw     *mongo.Collection
}

func newGinSecEnv(t *testing.T, opts mongosession.Options) *ginSecEnv {
	t.Helper()
	coll := mongotest.Collection(t)
	e := &ginSecEnv{mon: &ginSecMonitor{coll: coll}, logs: &ginSecText{}, onError: &ginSecText{}}
	client, err := mongo.Connect(options.Client().ApplyURI(mongotest.URI(t)).
		SetMonitor(&event.CommandMonitor{Started: e.mon.started}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	own, err := mongo.Connect(options.Client().ApplyURI(mongotest.URI(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = own.Disconnect(context.Background()) })
	e.raw = own.Database(mongotest.Database).Collection(coll)
	opts.Client, opts.Database, opts.Collection = client, mongotest.Database, coll
	opts.Logger = slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.OnError = e.onError.add
	if e.ms, err = mongosession.New(context.Background(), opts); err != nil {
		t.Fatalf("mongosession.New: %v", err)
	}
	t.Cleanup(func() {
		_, _ = e.raw.DeleteMany(context.Background(), bson.D{})
		_ = e.ms.Close()
	})
	e.mon.check(t)
	return e
}

// ginSecApp is a gin app with gin-contrib/sessions on store, its own
// logger and recovery writing to frameworkLog:
//
//	/set?k=K&v=V  stores V under K and saves, answers "ok"
//	/get?k=K      answers the string under K (no save)
//	/logout       MaxAge -1 and save
//
// A failed Save is recorded in errs and answered with a 500.
func ginSecApp(store *ginstore.Store, frameworkLog io.Writer, errs *ginSecText) *gin.Engine {
	r := gin.New()
	r.Use(gin.LoggerWithWriter(frameworkLog), gin.RecoveryWithWriter(frameworkLog))
	r.Use(sessions.Sessions("session", store))
	save := func(c *gin.Context, s sessions.Session) {
		if err := s.Save(); err != nil {
			errs.add(err)
			c.String(http.StatusInternalServerError, "session error")
			return
		}
		c.String(http.StatusOK, "ok")
	}
	r.GET("/set", func(c *gin.Context) {
		s := sessions.Default(c)
		s.Set(c.Query("k"), c.Query("v"))
		save(c, s)
	})
	r.GET("/get", func(c *gin.Context) {
		v, _ := sessions.Default(c).Get(c.Query("k")).(string)
		c.String(http.StatusOK, v)
	})
	r.GET("/logout", func(c *gin.Context) {
		s := sessions.Default(c)
		s.Options(sessions.Options{Path: "/", MaxAge: -1})
		save(c, s)
	})
	return r
}

// ginSecBrowser is a client with a cookie jar whose transport records every
// session cookie value the server sets.
type ginSecBrowser struct {
	t   *testing.T
	srv *httptest.Server
	c   *http.Client
	rec *ginSecIssued
}

type ginSecIssued struct {
	mu     sync.Mutex
	values []string
}

func (s *ginSecIssued) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err == nil {
		s.mu.Lock()
		for _, c := range resp.Cookies() {
			if c.Name == "session" && c.Value != "" {
				s.values = append(s.values, c.Value)
			}
		}
		s.mu.Unlock()
	}
	return resp, err
}

func (s *ginSecIssued) all() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.values...)
}

func newGinSecBrowser(t *testing.T, srv *httptest.Server, rec *ginSecIssued) *ginSecBrowser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &ginSecBrowser{t: t, srv: srv, c: &http.Client{Jar: jar, Transport: rec}, rec: rec}
}

func (b *ginSecBrowser) get(path string) (int, string) {
	b.t.Helper()
	resp, err := b.c.Get(b.srv.URL + path)
	if err != nil {
		b.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (b *ginSecBrowser) expect(path, want string) {
	b.t.Helper()
	if code, body := b.get(path); code != http.StatusOK || body != want {
		b.t.Fatalf("GET %s = %d %q; want 200 %q", path, code, body, want)
	}
}

func (b *ginSecBrowser) cookie() string {
	u, _ := url.Parse(b.srv.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == "session" {
			return c.Value
		}
	}
	return ""
}

// ginSecID decodes the session ID from one of store's cookies.
func ginSecID(t *testing.T, store *ginstore.Store, cookie string) string {
	t.Helper()
	var id string
	if err := securecookie.DecodeMulti("session", cookie, &id, store.Codecs...); err != nil {
		t.Fatalf("the face's own cookie does not decode: %v", err)
	}
	return id
}

// ginSecProbe sends a request whose Cookie header is written as given.
func ginSecProbe(h http.Handler, path, cookie string) (int, string) {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	r.Header["Cookie"] = []string{"session=" + cookie}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Code, w.Body.String()
}

// ginSecDefaultLog sends slog's default logger, where gin-contrib/sessions
// logs load errors, to w at Debug level until the test ends.
func ginSecDefaultLog(t *testing.T, w io.Writer) {
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(prev) })
}

func TestGinSecurityDumpAndHostileCookies(t *testing.T) {
	ctx := context.Background()
	e := newGinSecEnv(t, mongosession.Options{HashIDs: true, EncryptionKeys: [][]byte{bytes.Repeat([]byte{1}, 32)}})
	var framework, appErrs ginSecText
	ginSecDefaultLog(t, &framework)
	store := ginstore.New(e.ms, hashKey, blockKey)
	app := ginSecApp(store, &framework, &appErrs)
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	rec := &ginSecIssued{}
	victim, attacker := newGinSecBrowser(t, srv, rec), newGinSecBrowser(t, srv, rec)
	victim.expect("/set?k=secEmail&v=victim@example.com", "ok")
	attacker.expect("/set?k=secEmail&v=attacker@example.com", "ok")
	victimID, attackerID := ginSecID(t, store, victim.cookie()), ginSecID(t, store, attacker.cookie())

	// The dump: no plaintext, no ID, no cookie; no stored value works as a
	// cookie, as it is or signed with the app's keys.
	cur, err := e.raw.Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var docs []bson.Raw
	for cur.Next(ctx) {
		docs = append(docs, bytes.Clone(cur.Current))
	}
	if cur.Err() != nil || len(docs) != 2 {
		t.Fatalf("%d documents (%v); want 2", len(docs), cur.Err())
	}
	var candidates []string
	for _, d := range docs {
		for _, p := range []string{"victim@example.com", "attacker@example.com", "secEmail", victimID, attackerID, victim.cookie(), attacker.cookie()} {
			if bytes.Contains(d, []byte(p)) {
				t.Fatalf("a stored document holds %q in clear", p)
			}
		}
		elems, _ := d.Elements()
		for _, el := range elems {
			if s, ok := el.Value().StringValueOK(); ok {
				candidates = append(candidates, s)
			}
			if _, b, ok := el.Value().BinaryOK(); ok {
				candidates = append(candidates, string(b))
			}
		}
	}
	if len(candidates) != 4 {
		t.Fatalf("%d candidates; want _id and session of each document", len(candidates))
	}

	// The injection corpus, as cookies and signed with the app's keys.
	probes := append([]string(nil), candidates...)
	probes = append(probes, storetest.HostileTokens()...)
	probes = append(probes, `{"$gt":""}`, "__proto__", "a.b", "tok\x00en", strings.Repeat("A", 43))
	e.mon.check(t)
	forged := 0
	for i, p := range probes {
		cookies := []string{p}
		if enc, err := securecookie.EncodeMulti("session", p, store.Codecs...); err == nil {
			cookies = append(cookies, enc)
			forged++
		}
		for _, c := range cookies {
			if code, body := ginSecProbe(app, "/get?k=secEmail", c); code != http.StatusOK || body != "" {
				t.Fatalf("probe %d: %d %q; want 200 and no session", i, code, body)
			}
		}
	}
	if forged < len(probes)-2 {
		t.Fatalf("only %d of %d probes could be signed", forged, len(probes))
	}
	ids := e.mon.check(t)
	reached := 0
	for _, id := range ids {
		if id == mongosession.HashID(`{"$gt":""}`) || id == mongosession.HashID(candidates[0]) {
			reached++
		}
	}
	if reached < 2 {
		t.Fatalf("the probes did not reach the database (%d of 2 expected lookups): the test proves nothing", reached)
	}

	// A ciphertext moved from the victim's document into the attacker's.
	var vdoc bson.Raw
	if err := e.raw.FindOne(ctx, bson.D{{Key: "_id", Value: mongosession.HashID(victimID)}}).Decode(&vdoc); err != nil {
		t.Fatal(err)
	}
	if res, err := e.raw.UpdateOne(ctx, bson.D{{Key: "_id", Value: mongosession.HashID(attackerID)}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "session", Value: vdoc.Lookup("session")}}}}); err != nil || res.MatchedCount != 1 {
		t.Fatalf("moving the ciphertext: %v %v", res, err)
	}
	attacker.expect("/get?k=secEmail", "")
	if !e.onError.hasCorrupt() {
		t.Fatalf("OnError got %v; want ErrCorrupt", e.onError.all())
	}
	attacker.expect("/set?k=secEmail&v=again", "ok")
	victim.expect("/get?k=secEmail", "victim@example.com")
	if errs := appErrs.all(); len(errs) != 0 {
		t.Fatalf("errors reached the app: %v", errs)
	}
}

func TestGinSecurityTokensNeverLogged(t *testing.T) {
	ctx := context.Background()
	e := newGinSecEnv(t, mongosession.Options{})
	var framework, appErrs ginSecText
	ginSecDefaultLog(t, &framework)
	store := ginstore.New(e.ms, hashKey, blockKey)
	srv := httptest.NewServer(ginSecApp(store, &framework, &appErrs))
	t.Cleanup(srv.Close)
	rec := &ginSecIssued{}
	user, other := newGinSecBrowser(t, srv, rec), newGinSecBrowser(t, srv, rec)

	user.expect("/set?k=user&v=ann", "ok")
	user.expect("/set?k=cart&v=apple", "ok")
	user.expect("/get?k=user", "ann")
	user.expect("/logout", "ok")
	user.expect("/set?k=user&v=ann", "ok")

	// A document the engine cannot read; then one the face cannot decode,
	// whose error gin-contrib/sessions logs.
	other.expect("/set?k=user&v=bob", "ok")
	if _, err := e.raw.UpdateOne(ctx, bson.D{{Key: "_id", Value: ginSecID(t, store, other.cookie())}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "session", Value: "not binary"}}}}); err != nil {
		t.Fatal(err)
	}
	other.expect("/get?k=user", "")
	other.expect("/set?k=user&v=bob", "ok")
	if err := e.ms.CommitCtx(ctx, ginSecID(t, store, other.cookie()), []byte("not a record"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	other.expect("/get?k=user", "")
	if !strings.Contains(framework.String(), "level=ERROR") {
		t.Fatalf("gin-contrib/sessions logged no load error; the test proves nothing:\n%s", framework.String())
	}

	// The store goes away mid-run.
	if err := e.ms.Close(); err != nil {
		t.Fatal(err)
	}
	if code, _ := user.get("/set?k=user&v=carl"); code != http.StatusInternalServerError {
		t.Fatalf("a save with the store closed: %d; want 500", code)
	}

	var tokens []string
	for _, c := range rec.all() {
		tokens = append(tokens, c, ginSecID(t, store, c))
	}
	if len(tokens) < 8 || !e.onError.hasCorrupt() || len(appErrs.all()) == 0 || e.logs.String() == "" {
		t.Fatalf("the scenario produced too little to check: %d tokens, OnError %v, app errors %v, store log %q",
			len(tokens), e.onError.all(), appErrs.all(), e.logs.String())
	}
	texts := []string{e.logs.String(), framework.String()}
	for _, err := range append(e.onError.all(), appErrs.all()...) {
		texts = append(texts, err.Error())
	}
	for _, text := range texts {
		for _, tok := range tokens {
			if strings.Contains(text, tok) {
				t.Errorf("a token appears in:\n%s", text)
			}
		}
	}
	t.Logf("checked %d tokens against %d bytes of log and %d errors", len(tokens), len(framework.String())+len(e.logs.String()), len(texts)-2)
}
