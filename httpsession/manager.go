// Package httpsession is a net/http session manager that stores each
// session as a MongoDB document of fields, through a mongosession.Store.
//
// Its API is alexedwards/scs v2's (New, LoadAndSave, Put, Get, GetString,
// Pop, Remove, RenewToken, Destroy, ...), so moving from scs is a change of
// import and constructor. What a byte-level store cannot do, it does:
//
//   - a request writes only the keys it changed ($set and $unset of
//     "session.<key>"), so concurrent requests of one user never overwrite
//     each other's changes, and a request that changed nothing writes
//     nothing;
//   - Incr is an atomic counter, applied at once on the server ($inc);
//   - an existing session is only ever updated, never upserted, so a
//     session that was destroyed, revoked or has expired never comes back,
//     whatever a slow request does afterwards;
//   - sessions carry their user, so that all of a user's sessions can be
//     listed ("your devices") and ended.
//
// The stored _id is always the SHA-256 of the token (mongosession.HashID),
// whatever the store's HashIDs option says, so a copy of the collection
// yields no usable cookie. With the store's EncryptionKeys, each stored
// value is encrypted on its own (bound to its session and key), so per-key
// writes keep working.
//
// The manager's store must have a collection of its own: its documents hold
// "session" as a sub-document, which the byte-level methods of
// mongosession.Store (and so the scs, gorilla, gin and fiber faces) would
// report as corrupt. Never share one Store between a Manager and a
// byte-level face.
package httpsession

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/mongosession/mongosession"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Defaults of the Manager's fields.
const (
	// DefaultLifetime is the absolute lifetime of a session.
	DefaultLifetime = 24 * time.Hour
	// DefaultCookieName is the name of the session cookie.
	DefaultCookieName = "session"
)

// Field names of a stored session document, besides _id and the store's
// ExpiresKey.
const (
	fieldSession  = "session"
	fieldCreated  = "created"
	fieldLastSeen = "seen"
	fieldUser     = "user"
	fieldAgent    = "ua"
	fieldNext     = "next"    // on a renewed session's tombstone: the _id of its successor
	fieldRenewed  = "renewed" // on a renewed session's tombstone: when the renewal fenced it
)

// maxUserAgent bounds the stored User-Agent, in bytes.
const maxUserAgent = 256

// Errors returned by the manager, for errors.Is. Store failures are the
// store's own errors (mongosession.ErrUnavailable, ErrClosed, ...).
var (
	// ErrNoSession is returned by an operation given a context that does not
	// come from a request served by the manager's LoadAndSave.
	ErrNoSession = errors.New("httpsession: no session in the context (is the handler wrapped in LoadAndSave?)")

	// ErrNotInteger is returned by Incr when the key holds a value that is
	// not an integer.
	ErrNotInteger = errors.New("httpsession: the value is not an integer")

	// ErrSessionEnded is returned by Incr and RenewToken when the request's
	// session ended while the request ran (another request destroyed,
	// revoked or renewed it, or it expired), or when the request's cookie
	// names a session renewed less than 30 seconds ago, whose renewal's
	// response carries the new cookie. (A renewal by another request that
	// kept the user does not end the session for Incr, which counts on
	// the successor; RenewToken fails after that too.) Nothing is written, no new
	// session is started, and the cookie is left as it is (a renewal's
	// response carries the new one; the browser's next request clears a
	// dead one). The request's later changes are not saved.
	ErrSessionEnded = errors.New("httpsession: the session ended or was renewed by another request")

	// ErrHeadersWritten is returned by RenewToken, and by Incr when it
	// would start a new session, once the response's headers have been
	// sent (the handler wrote, flushed or hijacked): the cookie naming a new
	// token could no longer reach the browser, so the store is left
	// untouched. Call them before writing the response.
	ErrHeadersWritten = errors.New("httpsession: the response's headers were already written; the session cookie cannot change")

	// ErrContention is returned by Incr on an encrypted store when other
	// requests changed the key on every one of its attempts.
	ErrContention = errors.New("httpsession: the value kept changing under concurrent updates")
)

// SessionCookie configures the session cookie. Its zero value is not
// useful: New fills in the defaults, which follow OWASP's advice.
type SessionCookie struct {
	// Name of the cookie. Default: "session". With Secure set, a name
	// starting with "__Host-" makes browsers refuse the cookie from a
	// subdomain or over plain HTTP (Path must then be "/" and Domain empty).
	Name string

	// Domain of the cookie. Default: "" (host-only: sent back to this exact
	// host, not its subdomains). Set it only to share sessions across
	// subdomains.
	Domain string

	// HttpOnly hides the cookie from JavaScript. Default (set by New): true.
	HttpOnly bool

	// Path of the cookie. Default: "/".
	Path string

	// Persist makes the cookie outlive the browser session: it carries
	// Expires (the session's absolute lifetime). Default (set by New): true.
	// With false, the cookie goes when the browser closes.
	Persist bool

	// SameSite of the cookie. Default: http.SameSiteLaxMode, which keeps the
	// cookie off cross-site POSTs (CSRF) and still logs in users who follow
	// a link.
	SameSite http.SameSite

	// Secure sends the cookie over HTTPS only. Default: false, so that the
	// manager works on http://localhost in development. Set it to true in
	// every deployment served over HTTPS (behind a TLS-terminating proxy
	// too): without it, one plain-HTTP request leaks the session.
	Secure bool

	// Partitioned sets the CHIPS Partitioned attribute, for sessions used
	// in third-party iframes. Default: false. Requires Secure.
	Partitioned bool
}

// Manager is a session manager for net/http. Create it with New, set its
// fields before serving the first request (they must not change after),
// and wrap handlers with LoadAndSave. It is safe for concurrent use.
type Manager struct {
	// Lifetime is the absolute lifetime of a session, from its creation
	// (renewing the token keeps it). Default: 24 hours.
	Lifetime time.Duration

	// IdleTimeout ends a session that sees no request for this long.
	// Default: 0 (none). With TouchAfter, the idle deadline is extended at
	// most once per TouchAfter by a request that changes nothing, so a
	// session may end up to TouchAfter earlier than IdleTimeout after its
	// last request.
	IdleTimeout time.Duration

	// TouchAfter is how long after the last write a request that changed
	// nothing writes the session's last-seen time and idle deadline (one
	// update of those two fields only). Default: IdleTimeout / 10 (0, never,
	// without IdleTimeout). Set a positive value without IdleTimeout to keep
	// Info.LastSeen fresh to within TouchAfter.
	TouchAfter time.Duration

	// Cookie configures the session cookie.
	Cookie SessionCookie

	// ErrorFunc is called when the session cannot be loaded or saved (the
	// store failed or is closed). It writes the response. After a failed
	// save, the handler's own response is discarded, headers included:
	// ErrorFunc finds the header map as it was when LoadAndSave was called
	// (the headers of middleware outside it, such as HSTS, CSP, CORS or a
	// request ID), plus "Cache-Control: no-store". After a failed load, the
	// handler has not run: the header map is that of outer middleware,
	// plus "Cache-Control: no-store". Default: log the error with the
	// store's logger and answer 500 Internal Server Error.
	ErrorFunc func(http.ResponseWriter, *http.Request, error)

	store     *mongosession.Store
	encrypted bool
	key       *contextKey
}

type contextKey struct{ name string }

// New returns a Manager keeping sessions in store's collection, with the
// defaults documented on its fields. It creates an index on the "user"
// field (for RevokeUser and Sessions) in one bounded round trip; a failure
// to do so is reported through the store's logger and OnError, and the
// manager works without the index (those two then scan).
//
// The store must not be shared with a byte-level face (see the package
// documentation), and its ExpiresKey must not be "created", "seen", "user",
// "ua", "next" or "renewed", the manager's own fields (New reports that mistake). Closing the store ends the manager: its operations then
// fail with mongosession.ErrClosed.
func New(store *mongosession.Store) *Manager {
	m := &Manager{
		Lifetime: DefaultLifetime,
		Cookie: SessionCookie{
			Name:     DefaultCookieName,
			Path:     "/",
			HttpOnly: true,
			Persist:  true,
			SameSite: http.SameSiteLaxMode,
		},
		store: store,
		key:   &contextKey{"httpsession"},
	}
	if store == nil {
		return m
	}
	m.encrypted = store.Encrypted()
	switch store.ExpiresKey() {
	case fieldCreated, fieldLastSeen, fieldUser, fieldAgent, fieldNext, fieldRenewed:
		store.Report("httpsession: the store's ExpiresKey clashes with a field of the native manager",
			fmt.Errorf("%w: ExpiresKey %q is one of created, seen, user, ua, next, renewed", mongosession.ErrInvalidOptions, store.ExpiresKey()))
	}
	m.ensureUserIndex()
	return m
}

// ensureUserIndex creates {user: 1}, sparse (sessions without a user are
// not indexed), falling back to a plain index on servers without sparse
// indexes.
func (m *Manager) ensureUserIndex() {
	err := m.store.Do(context.Background(), "creating the user index", func(ctx context.Context, coll *mongo.Collection) error {
		model := mongo.IndexModel{Keys: bson.D{{Key: fieldUser, Value: 1}}, Options: options.Index().SetSparse(true)}
		_, err := coll.Indexes().CreateOne(ctx, model)
		var se mongo.ServerError
		if errors.As(err, &se) && (se.HasErrorCode(238) || se.HasErrorCode(85) || se.HasErrorCode(86)) {
			// NotImplemented (no sparse indexes), or an index on the key
			// exists with other options: use or keep a plain one.
			_, err = coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: fieldUser, Value: 1}}})
			if errors.As(err, &se) && (se.HasErrorCode(85) || se.HasErrorCode(86)) {
				err = nil
			}
		}
		return err
	})
	if err != nil {
		m.store.Report("httpsession: creating the index on \"user\" (RevokeUser and Sessions will scan)", err)
	}
}

// lifetime, idle and touchAfter return the fields with defaults applied.
func (m *Manager) lifetime() time.Duration {
	if m.Lifetime <= 0 {
		return DefaultLifetime
	}
	return m.Lifetime
}

func (m *Manager) idle() time.Duration {
	if m.IdleTimeout < 0 {
		return 0
	}
	return m.IdleTimeout
}

func (m *Manager) touchAfter() time.Duration {
	if m.TouchAfter > 0 {
		return m.TouchAfter
	}
	return m.idle() / 10
}

// deadline is the stored expiry of a session created at created and seen
// at seen: the earlier of its absolute and its idle deadline.
func (m *Manager) deadline(created, seen time.Time) time.Time {
	d := created.Add(m.lifetime())
	if idle := m.idle(); idle > 0 {
		if i := seen.Add(idle); i.Before(d) {
			d = i
		}
	}
	return d
}

func (m *Manager) cookieName() string {
	if m.Cookie.Name == "" {
		return DefaultCookieName
	}
	return m.Cookie.Name
}

func (m *Manager) errorFunc(w http.ResponseWriter, r *http.Request, err error) {
	if m.ErrorFunc != nil {
		m.ErrorFunc(w, r, err)
		return
	}
	if m.store != nil {
		m.store.Logger().Error("httpsession: session failed", "method", r.Method, "path", r.URL.Path, "error", err)
	}
	http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
}

// state returns the session of ctx, or nil when ctx is not from
// LoadAndSave.
func (m *Manager) state(ctx context.Context) *state {
	if ctx == nil {
		return nil
	}
	st, _ := ctx.Value(m.key).(*state)
	return st
}

// do runs one operation on the store; without a store, it fails with
// ErrNoSession's sibling, mongosession.ErrClosed.
func (m *Manager) do(ctx context.Context, op string, fn func(ctx context.Context, coll *mongo.Collection) error) error {
	if m.store == nil {
		return mongosession.ErrClosed
	}
	return m.store.Do(ctx, "httpsession: "+op, fn)
}

// expiresKey is the store's expiry field.
func (m *Manager) expiresKey() string {
	if m.store == nil {
		return mongosession.DefaultExpiresKey
	}
	return m.store.ExpiresKey()
}

// opTimeout is the store's Timeout.
func (m *Manager) opTimeout() time.Duration {
	if m.store == nil {
		return mongosession.DefaultTimeout
	}
	return m.store.Timeout()
}
