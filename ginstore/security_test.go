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
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-contrib/sessions"
	"github.com/gin-gonic/gin"
	"github.com/gorilla/securecookie"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/ginstore"
	"github.com/mongosession/mongosession/internal/securitytest"
	"github.com/mongosession/mongosession/internal/storetest"
)

// ginSecCheck fails the test unless every filter of cmds (find,
// update, delete, count and findAndModify) holds only _id, as a string,
// the expiry as {$gt: date} and the ended marker's exclusion as
// {ended: {$exists: false}}; it returns the _id values looked up.
func ginSecCheck(t *testing.T, cmds []securitytest.Command) []string {
	t.Helper()
	var ids []string
	for _, c := range cmds {
		if c.Name == "aggregate" {
			continue // this check never covered pipelines
		}
		for _, f := range securitytest.Filters(c) {
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
				case "ended": // Commit's upsert never writes over an ended marker
					d, ok := v.DocumentOK()
					ops, _ := d.Elements()
					if !ok || len(ops) != 1 || ops[0].Key() != "$exists" || ops[0].Value().Type != bson.TypeBoolean || ops[0].Value().Boolean() {
						t.Errorf("ended condition %.100s; want {$exists: false}", v)
					}
				default:
					t.Errorf("unexpected filter field %.100q", e.Key())
				}
			}
		}
	}
	return ids
}

// newGinSecEnv is securitytest.NewEnv on a fresh collection, with the
// filters New sent checked.
func newGinSecEnv(t *testing.T, opts mongosession.Options) *securitytest.Env {
	t.Helper()
	opts.Collection = ""
	e := securitytest.NewEnv(t, opts)
	ginSecCheck(t, e.Monitor.Take())
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
func ginSecApp(store *ginstore.Store, frameworkLog io.Writer, errs *securitytest.Text) *gin.Engine {
	r := gin.New()
	r.Use(gin.LoggerWithWriter(frameworkLog), gin.RecoveryWithWriter(frameworkLog))
	r.Use(sessions.Sessions("session", store))
	save := func(c *gin.Context, s sessions.Session) {
		if err := s.Save(); err != nil {
			errs.Add(err)
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
	code, body, _ := securitytest.Probe(h, "session", path, cookie)
	return code, body
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
	e := newGinSecEnv(t, mongosession.Options{EncryptionKeys: [][]byte{bytes.Repeat([]byte{1}, 32)}})
	var framework, appErrs securitytest.Text
	ginSecDefaultLog(t, &framework)
	store := ginstore.New(e.Store, hashKey, blockKey)
	app := ginSecApp(store, &framework, &appErrs)
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	rec := &securitytest.Issued{Name: "session"}
	victim, attacker := securitytest.NewBrowser(t, srv, "session", rec), securitytest.NewBrowser(t, srv, "session", rec)
	victim.Expect("/set?k=secEmail&v=victim@example.com", "ok")
	attacker.Expect("/set?k=secEmail&v=attacker@example.com", "ok")
	victimID, attackerID := ginSecID(t, store, victim.Cookie()), ginSecID(t, store, attacker.Cookie())

	// The dump: no plaintext, no ID, no cookie; no stored value works as a
	// cookie, as it is or signed with the app's keys.
	cur, err := e.Raw.Find(ctx, bson.D{})
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
		for _, p := range []string{"victim@example.com", "attacker@example.com", "secEmail", victimID, attackerID, victim.Cookie(), attacker.Cookie()} {
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
	ginSecCheck(t, e.Monitor.Take())
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
	ids := ginSecCheck(t, e.Monitor.Take())
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
	if err := e.Raw.FindOne(ctx, bson.D{{Key: "_id", Value: mongosession.HashID(victimID)}}).Decode(&vdoc); err != nil {
		t.Fatal(err)
	}
	if res, err := e.Raw.UpdateOne(ctx, bson.D{{Key: "_id", Value: mongosession.HashID(attackerID)}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "session", Value: vdoc.Lookup("session")}}}}); err != nil || res.MatchedCount != 1 {
		t.Fatalf("moving the ciphertext: %v %v", res, err)
	}
	attacker.Expect("/get?k=secEmail", "")
	if !e.OnError.HasCorrupt() {
		t.Fatalf("OnError got %v; want ErrCorrupt", e.OnError.All())
	}
	attacker.Expect("/set?k=secEmail&v=again", "ok")
	victim.Expect("/get?k=secEmail", "victim@example.com")
	if errs := appErrs.All(); len(errs) != 0 {
		t.Fatalf("errors reached the app: %v", errs)
	}
}

func TestGinSecurityTokensNeverLogged(t *testing.T) {
	ctx := context.Background()
	e := newGinSecEnv(t, mongosession.Options{})
	var framework, appErrs securitytest.Text
	ginSecDefaultLog(t, &framework)
	store := ginstore.New(e.Store, hashKey, blockKey)
	srv := httptest.NewServer(ginSecApp(store, &framework, &appErrs))
	t.Cleanup(srv.Close)
	rec := &securitytest.Issued{Name: "session"}
	user, other := securitytest.NewBrowser(t, srv, "session", rec), securitytest.NewBrowser(t, srv, "session", rec)

	user.Expect("/set?k=user&v=ann", "ok")
	user.Expect("/set?k=cart&v=apple", "ok")
	user.Expect("/get?k=user", "ann")
	user.Expect("/logout", "ok")
	user.Expect("/set?k=user&v=ann", "ok")

	// A document the engine cannot read; then one the face cannot decode,
	// whose error gin-contrib/sessions logs.
	other.Expect("/set?k=user&v=bob", "ok")
	if res, err := e.Raw.UpdateOne(ctx, bson.D{{Key: "_id", Value: mongosession.HashID(ginSecID(t, store, other.Cookie()))}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "session", Value: "not binary"}}}}); err != nil || res.MatchedCount != 1 {
		t.Fatalf("spoiling the stored session: %v %v", res, err)
	}
	other.Expect("/get?k=user", "")
	other.Expect("/set?k=user&v=bob", "ok")
	if err := e.Store.CommitCtx(ctx, ginSecID(t, store, other.Cookie()), []byte("not a record"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	other.Expect("/get?k=user", "")
	if !strings.Contains(framework.String(), "level=ERROR") {
		t.Fatalf("gin-contrib/sessions logged no load error; the test proves nothing:\n%s", framework.String())
	}

	// The store goes away mid-run.
	if err := e.Store.Close(); err != nil {
		t.Fatal(err)
	}
	if code, _ := user.Get("/set?k=user&v=carl"); code != http.StatusInternalServerError {
		t.Fatalf("a save with the store closed: %d; want 500", code)
	}

	var tokens []string
	for _, c := range rec.All() {
		tokens = append(tokens, c, ginSecID(t, store, c))
	}
	if len(tokens) < 8 || !e.OnError.HasCorrupt() || len(appErrs.All()) == 0 || e.Logs.String() == "" {
		t.Fatalf("the scenario produced too little to check: %d tokens, OnError %v, app errors %v, store log %q",
			len(tokens), e.OnError.All(), appErrs.All(), e.Logs.String())
	}
	texts := []string{e.Logs.String(), framework.String()}
	for _, err := range append(e.OnError.All(), appErrs.All()...) {
		texts = append(texts, err.Error())
	}
	for _, text := range texts {
		for _, tok := range tokens {
			if strings.Contains(text, tok) {
				t.Errorf("a token appears in:\n%s", text)
			}
		}
	}
	t.Logf("checked %d tokens against %d bytes of log and %d errors", len(tokens), len(framework.String())+len(e.Logs.String()), len(texts)-2)
}
