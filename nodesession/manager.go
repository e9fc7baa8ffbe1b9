package nodesession

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/mongosession/mongosession"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Options configure a Manager.
type Options struct {
	// Store is the mongosession store whose collection holds the Node app's
	// sessions: open it with the Node store's database and collection
	// (connect-mongodb-session and connect-mongo default to "sessions"),
	// with PlainIDs (Node stores look sessions up by the plain id) and
	// without EncryptionKeys, which the Node app cannot read. The Manager uses its collection, timeout, closing and error
	// reporting; closing it is its owner's job. Required.
	Store *mongosession.Store

	// Cookie is the Node app's cookie scheme: ExpressCookie or KoaCookie.
	// Required.
	Cookie CookieScheme

	// Layout is the Node store's document layout: ConnectMongoDBSession,
	// ConnectMongo (with Express) or KoaGenericSession (with Koa).
	// Required.
	Layout Layout

	// ErrorHandler answers a request whose session could not be loaded or
	// saved (the database is unavailable, a legacy-encrypted session). It
	// is never called for a bad or unknown cookie: that is a new session.
	// Optional. Default: 500 Internal Server Error with a plain message
	// that names no session.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
}

// Manager reads and writes the sessions of a Node app. It is safe for
// concurrent use and holds no goroutine or resource of its own.
type Manager struct {
	st     *mongosession.Store
	ck     cookieSpec
	ly     layoutSpec
	cipher *webCipher
	onErr  func(w http.ResponseWriter, r *http.Request, err error)
	now    func() time.Time
}

// New validates opts and returns a Manager. An invalid option is an error
// naming the field. With ConnectMongo.Crypto, New derives the key
// (PBKDF2, 310000 iterations by default: tens of milliseconds).
func New(opts Options) (*Manager, error) {
	if opts.Store == nil {
		return nil, errors.New("nodesession: Options.Store: required")
	}
	if id, _ := opts.Store.StoredID("x"); id != "x" {
		return nil, errors.New("nodesession: Options.Store: open it with mongosession.Options.PlainIDs: the Node stores sharing the collection look sessions up by the plain id, not its hash")
	}
	if opts.Cookie == nil {
		return nil, errors.New("nodesession: Options.Cookie: required")
	}
	if opts.Layout == nil {
		return nil, errors.New("nodesession: Options.Layout: required")
	}
	m := &Manager{st: opts.Store, onErr: opts.ErrorHandler, now: time.Now}
	var err error
	if m.ck, err = opts.Cookie.cookieSpec(); err != nil {
		return nil, fmt.Errorf("nodesession: Options.Cookie: %w", err)
	}
	if m.ly, err = opts.Layout.layoutSpec(); err != nil {
		return nil, fmt.Errorf("nodesession: Options.Layout: %w", err)
	}
	if (m.ck.kind == schemeKoa) != (m.ly.kind == layoutKoa) {
		return nil, errors.New("nodesession: Options.Layout: KoaCookie pairs with KoaGenericSession, ExpressCookie with the Express stores")
	}
	if m.ly.crypto != nil {
		if m.cipher, err = m.ly.crypto.build(); err != nil {
			return nil, fmt.Errorf("nodesession: Options.Layout: %w", err)
		}
	}
	if m.onErr == nil {
		m.onErr = func(w http.ResponseWriter, _ *http.Request, _ error) {
			http.Error(w, "session unavailable", http.StatusInternalServerError)
		}
	}
	return m, nil
}

type ctxKey struct{}

// FromContext returns the session the Manager's Handler attached to the
// request's context, or nil outside that middleware.
func FromContext(ctx context.Context) *Session {
	s, _ := ctx.Value(ctxKey{}).(*Session)
	return s
}

// Handler is the middleware: it loads the request's session before next
// runs (FromContext gives it to next), and saves it when next starts the
// response (first WriteHeader, Write or Flush) or returns: changed values
// are written, expires moves as the Node store computes it, and the cookie
// is issued when the Node middleware would issue it. A failed load or save
// goes to Options.ErrorHandler (the response is then that handler's, and
// next's later writes are dropped with an error) and to the store's Report.
func (m *Manager) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := m.Load(r)
		if err != nil {
			m.st.Report("nodesession: loading a session", err)
			m.onErr(w, r, err)
			return
		}
		sw := &saveWriter{ResponseWriter: w, m: m, s: s, r: r}
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), ctxKey{}, s)))
		sw.commit()
	})
}

// saveWriter saves the session before the response's headers go out.
type saveWriter struct {
	http.ResponseWriter
	m      *Manager
	s      *Session
	r      *http.Request
	done   bool
	failed bool
}

func (w *saveWriter) commit() {
	if w.done {
		return
	}
	w.done = true
	if err := w.m.Save(w.r.Context(), w.ResponseWriter, w.s); err != nil {
		w.failed = true
		w.m.st.Report("nodesession: saving a session", err)
		w.m.onErr(w.ResponseWriter, w.r, err)
	}
}

// errResponseReplaced is what next's writes get after a failed save.
var errResponseReplaced = errors.New("nodesession: response replaced after a failed session save")

func (w *saveWriter) WriteHeader(code int) {
	w.commit()
	if !w.failed {
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *saveWriter) Write(b []byte) (int, error) {
	w.commit()
	if w.failed {
		return 0, errResponseReplaced
	}
	return w.ResponseWriter.Write(b)
}

// Flush saves the session and flushes the response, if it can be flushed.
func (w *saveWriter) Flush() {
	w.commit()
	if f, ok := w.ResponseWriter.(http.Flusher); ok && !w.failed {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the underlying writer.
func (w *saveWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// validSID keeps junk off the wire: a verified id is still the client's
// string (any value signed with a secret).
func validSID(sid string) bool {
	if sid == "" || len(sid) > mongosession.MaxTokenLength || !utf8.ValidString(sid) {
		return false
	}
	for i := 0; i < len(sid); i++ {
		if c := sid[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// newSID is uid-safe(24): 24 random bytes, base64url without padding.
func newSID() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Load returns the request's session: the stored one when the cookie
// verifies and the session exists and has not expired, else a new empty
// one (IsNew). A missing, malformed, tampered or unknown cookie is a new
// session, never an error; so is a stored document the Node app could not
// read either (reported through the store's OnError). The error is for the
// database failing, and ErrLegacyEncryption. Middleware users do not call
// it: Handler does.
func (m *Manager) Load(r *http.Request) (*Session, error) {
	s := newSession(m)
	sid, idx, ok := m.ck.readSID(r)
	if !ok || !validSID(sid) {
		return s, nil
	}
	s.keyIndex = idx
	id := m.ly.storageID(sid)
	var raw bson.Raw
	err := m.st.Do(r.Context(), "nodesession: find", func(ctx context.Context, c *mongo.Collection) error {
		var err error
		raw, err = c.FindOne(ctx, bson.D{{Key: m.ly.idField, Value: id}}).Raw()
		if errors.Is(err, mongo.ErrNoDocuments) {
			raw, err = nil, nil
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if raw == nil {
		return s, nil
	}
	now := m.now()
	switch ev := raw.Lookup(m.ly.expiresKey); ev.Type {
	case 0:
		// No expiry: never expires, in both Node stores.
	case bson.TypeNull, bson.TypeUndefined:
		if m.ly.kind == layoutCM {
			// connect-mongo's get filter {$or: [{expires: {$exists:
			// false}}, {expires: {$gt: now}}]} matches neither.
			return s, nil
		}
		// connect-mongodb-session's !doc.expires: never expires.
	case bson.TypeDateTime:
		if exp := time.UnixMilli(ev.DateTime()); !now.Before(exp) {
			if m.ly.kind != layoutCM {
				// connect-mongodb-session's get destroys an expired session.
				_ = m.st.Do(r.Context(), "nodesession: delete expired", func(ctx context.Context, c *mongo.Collection) error {
					_, err := c.DeleteOne(ctx, bson.D{{Key: m.ly.idField, Value: id}})
					return err
				})
			}
			return s, nil
		}
	default:
		return s, nil
	}
	if err := m.decode(s, raw); err != nil {
		if errors.Is(err, ErrLegacyEncryption) {
			return nil, err
		}
		m.st.Report("nodesession: unreadable session document", fmt.Errorf("%w: %v", mongosession.ErrCorrupt, err))
		return newSession(m), nil
	}
	if m.ck.kind == schemeExpress && !s.cookie.present {
		// express-session's createSession throws on a session without a
		// cookie: the Node app cannot use it either.
		m.st.Report("nodesession: unreadable session document", fmt.Errorf("%w: session has no cookie", mongosession.ErrCorrupt))
		return newSession(m), nil
	}
	s.sid, s.isNew = sid, false
	return s, nil
}

// decode fills s from a stored document. It never panics on a malformed
// document.
func (m *Manager) decode(s *Session, raw bson.Raw) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("malformed document: %v", p)
		}
	}()
	if err := raw.Validate(); err != nil {
		return err
	}
	if lm, ok := raw.Lookup("lastModified").DateTimeOK(); ok {
		t := time.UnixMilli(lm).UTC()
		s.lastModified = &t
	}
	sv := raw.Lookup("session")
	var text []byte
	switch {
	case m.cipher != nil:
		str, ok := sv.StringValueOK()
		if !ok {
			return errors.New("session is not an encrypted string")
		}
		if text, err = m.cipher.decrypt(str); err != nil {
			return err
		}
	case m.ly.stringify:
		str, ok := sv.StringValueOK()
		if !ok {
			return errors.New("session is not a JSON string (is the store's stringify option off?)")
		}
		text = []byte(str)
	}
	if text != nil {
		ms, err := parseJSONObject(text)
		if err != nil {
			if looksKruptein(string(text)) {
				return ErrLegacyEncryption
			}
			return fmt.Errorf("session is not a JSON object: %v", err)
		}
		if m.cipher == nil && !hasMember(ms, "cookie") && looksKruptein(string(text)) {
			// kruptein 1 and 2's {"hmac","ct","iv","at"} is a JSON object
			// too, but never an express-session session (no cookie).
			return ErrLegacyEncryption
		}
		s.jsonMode, s.jsonMems = true, ms
		for _, mem := range ms {
			v, err := jsonValue(mem.raw)
			if err != nil {
				return err
			}
			if mem.key == "cookie" {
				if cm, ok := v.(map[string]any); ok {
					s.cookie.fromMap(cm)
					if s.cookieMems, err = parseJSONObject(mem.raw); err != nil {
						return err
					}
				}
				continue
			}
			s.order = append(s.order, mem.key)
			s.vals[mem.key] = v
		}
		return nil
	}
	doc, ok := sv.DocumentOK()
	if !ok {
		if str, isStr := sv.StringValueOK(); isStr && m.ly.kind == layoutCM && looksKruptein(str) {
			// connect-mongo stores an encrypted session as a string
			// whatever its stringify option.
			return ErrLegacyEncryption
		}
		return errors.New("session is not a document (is the store's stringify option on?)")
	}
	els, err := doc.Elements()
	if err != nil {
		return err
	}
	for _, e := range els {
		if e.Key() == "cookie" {
			if cd, ok := e.Value().DocumentOK(); ok {
				s.cookie.fromBSON(cd)
			}
			continue
		}
		v, err := fromBSON(e.Value())
		if err != nil {
			return err
		}
		if _, dup := s.vals[e.Key()]; !dup {
			s.order = append(s.order, e.Key())
		}
		s.vals[e.Key()] = v
	}
	return nil
}

func hasMember(ms []jsonMember, key string) bool {
	for _, m := range ms {
		if m.key == key {
			return true
		}
	}
	return false
}

// Save writes what the request changed and issues the cookie the Node
// middleware would issue, once per session: later calls do nothing. It
// never resurrects a session deleted meanwhile (a logout on the Node side
// wins). Handler calls it; call it yourself only with a Session from Load.
func (m *Manager) Save(ctx context.Context, w http.ResponseWriter, s *Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.saved {
		return nil
	}
	s.saved = true
	now := m.now()

	switch {
	case s.destroyed:
		if !s.isNew {
			id := m.ly.storageID(s.sid)
			err := m.st.Do(ctx, "nodesession: destroy", func(ctx context.Context, c *mongo.Collection) error {
				_, err := c.DeleteOne(ctx, bson.D{{Key: m.ly.idField, Value: id}})
				return err
			})
			if err != nil {
				return err
			}
		}
		m.clearCookie(w, s)
		return nil
	case s.isNew:
		if len(s.vals) == 0 {
			return nil // an empty new session is not stored (saveUninitialized: false)
		}
		sid, err := newSID()
		if err != nil {
			return err
		}
		s.cookie = m.newCookie(now)
		if err := m.insert(ctx, s, sid, now); err != nil {
			return err
		}
		s.sid, s.isNew = sid, false
		m.issueCookie(w, s, now, true)
		return nil
	case s.modified():
		gone, err := m.update(ctx, s, now)
		if err != nil || gone {
			return err
		}
		m.issueCookie(w, s, now, false)
		return nil
	}
	if m.ly.kind == layoutCM {
		if err := m.touch(ctx, s, now); err != nil {
			return err
		}
	}
	if s.keyIndex > 0 {
		// Signed with an older secret: re-sign with the first.
		if m.ck.kind == schemeKoa {
			m.ck.setKoa(w, s.sid, cookieAttrs{path: "/", httpOnly: true}, true)
		} else {
			m.ck.setExpress(w, s.sid, m.expressAttrs(s))
		}
	}
	return nil
}

// clearCookie clears the session's cookie after a logout, with the domain
// and path it was issued with (a browser deletes only the cookie of the
// same name, domain and path): the stored cookie's for a stored session,
// else the CookieScheme's. (koa-generic-session's own reset sends neither;
// doing so clears the cookie in more browsers, never in fewer.)
func (m *Manager) clearCookie(w http.ResponseWriter, s *Session) {
	var a cookieAttrs
	if s.cookie.present {
		a = m.expressAttrs(s)
	} else {
		a = cookieAttrs{path: m.ck.path, domain: m.ck.domain, secure: m.ck.secure, httpOnly: m.ck.httpOnly, sameSite: m.ck.sameSite}
	}
	a.priority = ""
	if m.ck.kind == schemeKoa {
		epoch := time.Unix(0, 0)
		a.expires, a.partitioned = &epoch, false
		m.ck.setKoa(w, "", a, false)
		return
	}
	m.ck.clearExpress(w, a)
}

func (m *Manager) expressAttrs(s *Session) cookieAttrs {
	c := &s.cookie
	p := c.path
	if p == "" {
		p = "/"
	}
	return cookieAttrs{expires: c.expires, path: p, domain: c.domain, secure: c.secure, httpOnly: c.httpOnly,
		sameSite: c.sameSite, partitioned: c.partitioned, priority: c.priority}
}

// issueCookie sets the cookie after a write, as the Node middleware does:
// express-session when the cookie has an expiry (or the session is new),
// koa-generic-session always, with expires = now + cookie.maxAge.
func (m *Manager) issueCookie(w http.ResponseWriter, s *Session, now time.Time, created bool) {
	c := &s.cookie
	if m.ck.kind == schemeKoa {
		a := cookieAttrs{path: c.path, domain: c.domain, secure: c.secure, httpOnly: c.httpOnly, sameSite: c.sameSite}
		if !c.present {
			a.path, a.httpOnly = "/", true
		}
		if c.maxAge != nil && *c.maxAge > 0 {
			t := now.Add(time.Duration(*c.maxAge) * time.Millisecond)
			a.expires = &t
		}
		m.ck.setKoa(w, s.sid, a, false)
		return
	}
	if c.expires == nil && s.keyIndex == 0 && !created {
		return
	}
	m.ck.setExpress(w, s.sid, m.expressAttrs(s))
}

// expiry computes the cookie's and the document's new expiry for a write.
// For Express the cookie is touched (expires = now + originalMaxAge, or
// null); the document expires with the cookie, or after the layout's
// lifetime when the cookie has no expiry.
func (m *Manager) expiry(s *Session, now time.Time) time.Time {
	if m.ck.kind == schemeExpress {
		if s.cookie.originalMaxAge != nil {
			t := now.Add(time.Duration(*s.cookie.originalMaxAge) * time.Millisecond).Truncate(time.Millisecond).UTC()
			s.cookie.expires = &t
		} else {
			s.cookie.expires = nil
		}
	}
	if s.cookie.expires != nil {
		return *s.cookie.expires
	}
	return now.Add(m.ly.lifetime).Truncate(time.Millisecond).UTC()
}

// sessionJSON builds the JSON text of the session for JSON layouts.
func (m *Manager) sessionJSON(s *Session) []byte {
	var ms []jsonMember
	seen := map[string]bool{}
	cookieRaw := func() []byte {
		if s.cookieMems == nil {
			return appendJSONObject(nil, s.cookie.expressJSON())
		}
		var exp any
		if s.cookie.expires != nil {
			exp = *s.cookie.expires
		}
		cms := append([]jsonMember(nil), s.cookieMems...)
		found := false
		for i := range cms {
			if cms[i].key == "expires" {
				cms[i].raw, found = appendJSON(nil, exp), true
			}
		}
		if !found {
			cms = append(cms, jsonMember{key: "expires", raw: appendJSON(nil, exp)})
		}
		return appendJSONObject(nil, cms)
	}
	if s.jsonMems == nil {
		ms = append(ms, jsonMember{key: "cookie", raw: cookieRaw()})
	}
	for _, mem := range s.jsonMems {
		switch {
		case mem.key == "cookie":
			if s.cookie.present {
				mem.raw = cookieRaw()
			}
		case s.removed[mem.key]:
			continue
		case s.changed[mem.key]:
			mem.raw = appendJSON(nil, s.vals[mem.key])
		}
		seen[mem.key] = true
		ms = append(ms, mem)
	}
	for _, k := range s.order {
		if seen[k] || !s.changed[k] {
			continue
		}
		seen[k] = true
		ms = append(ms, jsonMember{key: k, raw: appendJSON(nil, s.vals[k])})
	}
	return appendJSONObject(nil, ms)
}

// storedSession is the session field's new value in a JSON layout.
func (m *Manager) storedSession(s *Session) (any, error) {
	text := m.sessionJSON(s)
	if m.cipher != nil {
		return m.cipher.encrypt(text)
	}
	return string(text), nil
}

func (m *Manager) insert(ctx context.Context, s *Session, sid string, now time.Time) error {
	exp := m.expiry(s, now)
	var sess any
	if m.ly.stringify || m.cipher != nil {
		v, err := m.storedSession(s)
		if err != nil {
			return err
		}
		sess = v
	} else {
		d := bson.D{}
		if m.ck.kind == schemeKoa {
			d = append(d, bson.E{Key: "cookie", Value: s.cookie.koaBSON()})
		} else {
			d = append(d, bson.E{Key: "cookie", Value: s.cookie.expressBSON()})
		}
		for _, k := range s.order {
			if v, ok := s.vals[k]; ok {
				d = append(d, bson.E{Key: k, Value: toBSON(v)})
			}
		}
		sess = d
	}
	id := m.ly.storageID(sid)
	set := bson.D{{Key: m.ly.idField, Value: id}, {Key: "session", Value: sess}, {Key: m.ly.expiresKey, Value: bson.NewDateTimeFromTime(exp)}}
	update := bson.D{}
	if m.ly.kind == layoutCM && m.ly.touchAfter > 0 {
		set = append(set, bson.E{Key: "lastModified", Value: bson.NewDateTimeFromTime(now)})
	}
	update = append(update, bson.E{Key: "$set", Value: set})
	if m.ly.kind == layoutCM && m.ly.timestamps {
		update = append(update,
			bson.E{Key: "$setOnInsert", Value: bson.D{{Key: "createdAt", Value: bson.NewDateTimeFromTime(now)}}},
			bson.E{Key: "$currentDate", Value: bson.D{{Key: "updatedAt", Value: true}}})
	}
	return m.st.Do(ctx, "nodesession: insert", func(ctx context.Context, c *mongo.Collection) error {
		_, err := c.UpdateOne(ctx, bson.D{{Key: m.ly.idField, Value: id}}, update, options.UpdateOne().SetUpsert(true))
		return err
	})
}

// update writes the changes of a stored session. gone is true when the
// document no longer exists (logged out elsewhere); nothing is recreated.
func (m *Manager) update(ctx context.Context, s *Session, now time.Time) (gone bool, err error) {
	exp := m.expiry(s, now)
	set := bson.D{}
	var unset bson.D
	if s.jsonMode {
		v, err := m.storedSession(s)
		if err != nil {
			return false, err
		}
		set = append(set, bson.E{Key: "session", Value: v})
	} else {
		if m.ck.kind == schemeExpress && s.cookie.present {
			var ce any
			if s.cookie.expires != nil {
				ce = bson.NewDateTimeFromTime(*s.cookie.expires)
			}
			set = append(set, bson.E{Key: "session.cookie.expires", Value: ce})
		}
		for _, k := range s.order {
			if s.changed[k] {
				set = append(set, bson.E{Key: "session." + k, Value: toBSON(s.vals[k])})
			}
		}
		for k := range s.removed {
			unset = append(unset, bson.E{Key: "session." + k, Value: ""})
		}
	}
	set = append(set, bson.E{Key: m.ly.expiresKey, Value: bson.NewDateTimeFromTime(exp)})
	if m.ly.kind == layoutCM && m.ly.touchAfter > 0 {
		set = append(set, bson.E{Key: "lastModified", Value: bson.NewDateTimeFromTime(now)})
	}
	update := bson.D{{Key: "$set", Value: set}}
	if len(unset) > 0 {
		update = append(update, bson.E{Key: "$unset", Value: unset})
	}
	if m.ly.kind == layoutCM && m.ly.timestamps {
		update = append(update, bson.E{Key: "$currentDate", Value: bson.D{{Key: "updatedAt", Value: true}}})
	}
	id := m.ly.storageID(s.sid)
	err = m.st.Do(ctx, "nodesession: update", func(ctx context.Context, c *mongo.Collection) error {
		res, err := c.UpdateOne(ctx, bson.D{{Key: m.ly.idField, Value: id}}, update)
		if err == nil && res.MatchedCount == 0 {
			gone = true
		}
		return err
	})
	return gone, err
}

// touch is connect-mongo's touch, which express-session calls for every
// request that loads a session without changing it: expires moves to the
// touched cookie's expiry (now + originalMaxAge) or now + ttl; with
// touchAfter, at most once per that interval.
func (m *Manager) touch(ctx context.Context, s *Session, now time.Time) error {
	set := bson.D{}
	if m.ly.touchAfter > 0 && s.lastModified != nil {
		if now.Sub(*s.lastModified) < m.ly.touchAfter {
			return nil
		}
		set = append(set, bson.E{Key: "lastModified", Value: bson.NewDateTimeFromTime(now)})
	}
	exp := now.Add(m.ly.lifetime)
	if s.cookie.originalMaxAge != nil {
		exp = now.Add(time.Duration(*s.cookie.originalMaxAge) * time.Millisecond)
	}
	set = append(set, bson.E{Key: "expires", Value: bson.NewDateTimeFromTime(exp)})
	update := bson.D{{Key: "$set", Value: set}}
	if m.ly.timestamps {
		update = append(update, bson.E{Key: "$currentDate", Value: bson.D{{Key: "updatedAt", Value: true}}})
	}
	id := m.ly.storageID(s.sid)
	return m.st.Do(ctx, "nodesession: touch", func(ctx context.Context, c *mongo.Collection) error {
		_, err := c.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, update)
		return err
	})
}
