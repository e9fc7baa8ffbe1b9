package nodesession

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/token"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Options configure a Manager.
type Options struct {
	// Store is the mongosession store whose collection holds the Node app's
	// sessions: open it with the Node store's database and collection
	// (connect-mongodb-session and connect-mongo default to "sessions"),
	// with PlainIDs (Node stores look sessions up by the plain id) and
	// without EncryptionKeys, which the Node app cannot read. The Manager
	// uses its collection, timeout, closing and error reporting; closing
	// it is its owner's job. Required.
	Store *mongosession.Store

	// Cookie is the Node app's cookie scheme: ExpressCookie or KoaCookie.
	// Required.
	Cookie CookieScheme

	// Layout is the Node store's document layout: ConnectMongoDBSession,
	// ConnectMongo (with Express) or KoaGenericSession (with Koa).
	// Required.
	Layout Layout

	// ErrorHandler answers a request whose session could not be loaded or
	// saved (the database is unavailable, a legacy-encrypted session,
	// ErrConflict for a JSON-string session that kept changing,
	// mongosession.ErrTooLarge for a session over 16 MiB). It
	// is never called for a bad or unknown cookie: that is a new session.
	// Optional. Default: 500 Internal Server Error with a plain message
	// that names no session.
	ErrorHandler func(w http.ResponseWriter, r *http.Request, err error)
}

// Manager reads and writes the sessions of a Node app. It is safe for
// concurrent use and holds no goroutine or resource of its own.
type Manager struct {
	be    mongosession.Backend
	ck    scheme
	ly    *layout
	onErr func(w http.ResponseWriter, r *http.Request, err error)
	now   func() time.Time
}

// New validates opts and returns a Manager. An invalid option is an error
// naming the field. With ConnectMongo.Crypto, New derives the key
// (PBKDF2, 310000 iterations by default: tens of milliseconds).
func New(opts Options) (*Manager, error) {
	if opts.Store == nil {
		return nil, errors.New("nodesession: Options.Store: required")
	}
	if id, _ := opts.Store.Backend().StoredID("x"); id != "x" {
		return nil, errors.New("nodesession: Options.Store: open it with mongosession.Options.PlainIDs: the Node stores sharing the collection look sessions up by the plain id, not its hash")
	}
	if opts.Cookie == nil {
		return nil, errors.New("nodesession: Options.Cookie: required")
	}
	if opts.Layout == nil {
		return nil, errors.New("nodesession: Options.Layout: required")
	}
	m := &Manager{be: opts.Store.Backend(), onErr: opts.ErrorHandler, now: time.Now}
	var err error
	if m.ck, err = opts.Cookie.scheme(); err != nil {
		return nil, fmt.Errorf("nodesession: Options.Cookie: %w", err)
	}
	if m.ly, err = opts.Layout.layout(m.ck); err != nil {
		return nil, fmt.Errorf("nodesession: Options.Layout: %w", err)
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

// Load returns the request's session: the stored one when the cookie
// verifies and the session exists and has not expired, else a new empty
// one (IsNew). A missing, malformed, tampered or unknown cookie is a new
// session, never an error; so is a stored document the Node app could not
// read either (reported through the store's OnError). The error is for the
// database failing, and ErrLegacyEncryption. Middleware users do not call
// it: Handler does.
func (m *Manager) Load(r *http.Request) (*Session, error) {
	sid, idx, ok := m.ck.readSID(r)
	if !ok || !token.Plausible(sid) {
		return newSession(m), nil
	}
	raw, err := m.find(r.Context(), sid)
	if err != nil {
		return nil, err
	}
	s, purge, err := m.open(raw, m.now())
	switch {
	case errors.Is(err, ErrLegacyEncryption):
		return nil, err
	case err != nil:
		m.be.Report("nodesession: unreadable session document", err)
		return newSession(m), nil
	case s == nil:
		if purge {
			// connect-mongodb-session's get destroys an expired session.
			_ = m.be.Do(r.Context(), "nodesession: delete expired", func(ctx context.Context, c *mongo.Collection) error {
				_, err := c.DeleteOne(ctx, m.ly.filter(sid))
				return err
			})
		}
		return newSession(m), nil
	}
	s.sid, s.isNew, s.keyIndex = sid, false, idx
	return s, nil
}

// find returns sid's stored document, or nil.
func (m *Manager) find(ctx context.Context, sid string) (bson.Raw, error) {
	var raw bson.Raw
	err := m.be.Do(ctx, "nodesession: find", func(ctx context.Context, c *mongo.Collection) error {
		var err error
		raw, err = c.FindOne(ctx, m.ly.filter(sid)).Raw()
		if errors.Is(err, mongo.ErrNoDocuments) {
			raw, err = nil, nil
		}
		return err
	})
	return raw, err
}

// open reads a stored document (nil: none) as the Node store would. s is
// nil when it does not count as found (missing or expired; purge: the
// Node store deletes it on reading). The error is ErrLegacyEncryption, or
// an ErrCorrupt for a document neither side can use.
func (m *Manager) open(raw bson.Raw, now time.Time) (s *Session, purge bool, err error) {
	if raw == nil {
		return nil, false, nil
	}
	if err := raw.Validate(); err != nil {
		return nil, false, fmt.Errorf("%w: %v", mongosession.ErrCorrupt, err)
	}
	found, purge := m.ly.rules.live(raw.Lookup(m.ly.expiresKey), now)
	if !found {
		return nil, purge, nil
	}
	s = newSession(m)
	s.loaded = raw
	if err := m.decode(s, raw); err != nil {
		if errors.Is(err, ErrLegacyEncryption) {
			return nil, false, err
		}
		return nil, false, fmt.Errorf("%w: %v", mongosession.ErrCorrupt, err)
	}
	if !m.ck.usable(&s.cookie) {
		return nil, false, fmt.Errorf("%w: session has no cookie", mongosession.ErrCorrupt)
	}
	return s, false, nil
}

// reread is the session stored under sid now, for a save that found it
// changed: nil when it is gone or expired (never recreated).
func (m *Manager) reread(ctx context.Context, sid string) (*Session, error) {
	raw, err := m.find(ctx, sid)
	if err != nil {
		return nil, err
	}
	s, _, err := m.open(raw, m.now())
	if s != nil {
		s.sid, s.isNew = sid, false
	}
	return s, err
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
	return m.ly.codec.decode(s, raw.Lookup("session"))
}
