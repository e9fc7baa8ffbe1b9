// Package httpsession is a net/http session manager with the API of
// alexedwards/scs v2 (New, LoadAndSave, Put, Get*, Pop*, Remove,
// RenewToken, Destroy, ...) that stores each session as a MongoDB document
// of fields, through a mongosession.Store: a request writes only the keys
// it changed ($set and $unset of "session.<key>"), Incr is an atomic $inc,
// the session is read only when the handler first uses it, and sessions
// carry their user, so that a user's sessions can be listed and ended.
//
// Why it is correct, in one paragraph. A token is a selector and a
// verifier; the selector is the document's _id for the session's whole
// life, the document stores v, the SHA-256 of the verifier. Every command
// on an existing session (the find that loads it, each update,
// findAndModify and delete) names it by {_id: selector, v: hash,
// expires > now} (the load applies the v and expiry part itself, comparing
// in constant time), and none of them upserts. MongoDB applies each
// command to one document atomically, so a command either acts on the
// session as the request's token still names it, live, or matches
// nothing. RenewToken is one such update that sets a new v together with
// the request's pending changes: from then on every request holding the
// old token matches nothing (its writes are dropped, its Incr fails with
// ErrSessionEnded); nothing is forwarded, so a token planted before a
// login can never write into, renew or end the logged-in session. Ending a
// session is one delete; once it is gone, no filter matches it again, so
// it never comes back; a request that finds its session gone stores
// nothing more and leaves the cookie alone. A new session is only ever an
// insert under a fresh random selector. Two concessions, both bounded by
// 30 seconds after a renewal (its time is stored): a request naming the
// session with another token is taken for one that raced the renewal and
// starts no new session (whose cookie would replace the renewed one); and
// when the renewal kept the non-empty user the renewing request had read,
// the old hash is kept as pv, so that a logout sent with the old cookie
// still ends the session. A login (the user changes) keeps no pv.
//
// With the store's EncryptionKeys, each value is sealed on its own, bound
// to the session's _id, its key and the session's user. The store must
// have a collection of its own, never shared with a byte-level face (scs,
// gorilla, gin, fiber), whose methods would call these documents corrupt.
// The store's PlainIDs option does not apply: verifiers are always hashed.
package httpsession

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/servererr"
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
	// DefaultMaxKeys is the default of Manager.MaxKeys.
	DefaultMaxKeys = 1000
)

// Field names of a stored session document, besides _id (the selector) and
// the store's ExpiresKey.
const (
	fieldSession  = "session"
	fieldVerifier = "v"       // SHA-256 of the verifier
	fieldPrevious = "pv"      // the previous v, for renewGrace after a renewal that kept the user
	fieldRenewed  = "renewed" // when that renewal happened
	fieldLastSeen = "seen"
	fieldUser     = "user"
	fieldAgent    = "ua"
	fieldKeys     = "keys" // the stored field names of "session", for the MaxKeys guard (see keysGuard)
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
	// revoked or renewed it, or it expired), or when its cookie names a
	// session renewed with another token less than 30 seconds ago (the
	// renewal's response carries the new cookie). Nothing is written, no
	// new session is started, the cookie is left as it is, and the
	// request's later changes are not saved.
	ErrSessionEnded = errors.New("httpsession: the session ended or was renewed by another request")
	// ErrHeadersWritten is returned by RenewToken, and by Incr when it
	// would start a new session, once the response's headers have been
	// sent (the handler wrote, flushed or hijacked): the cookie naming a new
	// token could no longer reach the browser, so the store is left
	// untouched. Call them before writing the response.
	ErrHeadersWritten = errors.New("httpsession: the response's headers were already written; the session cookie cannot change")
	// ErrOverflow is returned by Incr when the sum would not fit an int64.
	// Nothing is written.
	ErrOverflow = errors.New("httpsession: Incr would overflow int64")
	// ErrTooManyKeys fails the save of a request whose Put or Incr would
	// give its session more than Manager.MaxKeys keys (Incr returns it):
	// nothing of the request is stored, and ErrorFunc answers.
	ErrTooManyKeys = errors.New("httpsession: the session would exceed Manager.MaxKeys keys")
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
	// IdleTimeout ends a session that sees no use for this long. A request
	// uses the session when its handler reads or writes it (a request that
	// never touches the session sends nothing and extends nothing). Every
	// write extends the idle deadline in the same command; a request that
	// only reads extends it at most once per TouchAfter, so a session may
	// end up to TouchAfter earlier than IdleTimeout after its last use.
	// Default: 0 (none).
	IdleTimeout time.Duration
	// TouchAfter is how long after the last write a request that only read
	// the session writes its last-seen time and idle deadline (one update
	// of those two fields only). Default: IdleTimeout / 10 (0, never,
	// without IdleTimeout). Set a positive value without IdleTimeout to keep
	// Info.LastSeen fresh to within TouchAfter.
	TouchAfter time.Duration
	// Cookie configures the session cookie.
	Cookie SessionCookie
	// MaxKeys bounds the number of keys of a session: a Put or Incr that
	// would add one more fails (see ErrTooManyKeys) and stores nothing.
	// Default: 1000. Negative: no bound.
	MaxKeys int
	// ErrorFunc is called when the session cannot be read or saved (the
	// store failed or is closed), when the response is about to be sent (a
	// failed read in the handler is kept until then). It writes the
	// response instead of the handler's, whose headers are discarded too:
	// ErrorFunc finds the header map as it was when LoadAndSave was called
	// (the headers of outer middleware, such as HSTS, CSP, CORS or a
	// request ID), plus "Cache-Control: no-store". Default: log the error
	// with the store's logger and answer 500 Internal Server Error.
	ErrorFunc func(http.ResponseWriter, *http.Request, error)

	store     *mongosession.Store
	be        mongosession.Backend // store's face-author surface
	encrypted bool
	exp       string // the store's ExpiresKey
	key       *contextKey
	unusable  error // a store this manager cannot work with: every operation fails with it
}

type contextKey struct{ name string }

// New returns a Manager keeping sessions in store's collection, with the
// defaults documented on its fields. It creates an index on the "user"
// field (for RevokeUser and Sessions) in one bounded round trip; a failure
// to do so is reported through the store's logger and OnError, and the
// manager works without the index (those two then scan).
//
// The store must not be shared with a byte-level face (see the package
// documentation), and its ExpiresKey must not be one of the manager's own
// fields, "v", "pv", "renewed", "seen", "user", "ua", "keys" or "session":
// New reports that mistake, and every operation of the manager on the
// store then fails with it (an error wrapping mongosession.ErrInvalidOptions),
// since MongoDB would refuse or misread every write. Closing the store ends
// the manager: its operations then fail with mongosession.ErrClosed.
func New(store *mongosession.Store) *Manager {
	m := &Manager{
		Lifetime: DefaultLifetime,
		MaxKeys:  DefaultMaxKeys,
		Cookie: SessionCookie{
			Name:     DefaultCookieName,
			Path:     "/",
			HttpOnly: true,
			Persist:  true,
			SameSite: http.SameSiteLaxMode,
		},
		store: store,
		exp:   mongosession.DefaultExpiresKey,
		key:   &contextKey{"httpsession"},
	}
	if store == nil {
		return m
	}
	m.be = store.Backend()
	m.encrypted, m.exp = m.be.Encrypted(), m.be.ExpiresKey()
	switch m.exp {
	case fieldVerifier, fieldPrevious, fieldRenewed, fieldLastSeen, fieldUser, fieldAgent, fieldKeys, fieldSession:
		m.unusable = fmt.Errorf("httpsession: %w: the store's ExpiresKey %q is one of the manager's fields (v, pv, renewed, seen, user, ua, keys, session)",
			mongosession.ErrInvalidOptions, m.exp)
		m.be.Report("httpsession: the store cannot be used", m.unusable)
		return m
	}
	m.ensureUserIndex()
	return m
}

// ensureUserIndex creates {user: 1}, sparse (sessions without a user are
// not indexed), falling back to a plain index on servers without sparse
// indexes.
func (m *Manager) ensureUserIndex() {
	err := m.be.Do(context.Background(), "creating the user index", func(ctx context.Context, coll *mongo.Collection) error {
		model := mongo.IndexModel{Keys: bson.D{{Key: fieldUser, Value: 1}}, Options: options.Index().SetSparse(true)}
		_, err := coll.Indexes().CreateOne(ctx, model)
		conflict := []int{servererr.IndexOptionsConflict, servererr.IndexKeySpecsConflict}
		if servererr.Has(err, append(conflict, servererr.NotImplemented)...) {
			// No sparse indexes, or an index on the key exists with other
			// options: use or keep a plain one.
			_, err = coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: fieldUser, Value: 1}}})
			if servererr.Has(err, conflict...) {
				err = nil
			}
		}
		return err
	})
	if err != nil {
		m.be.Report("httpsession: creating the index on \"user\" (RevokeUser and Sessions will scan)", err)
	}
}

// lifetime, idle, touchAfter, maxKeys (-1: no bound) and cookieName return
// the fields with their defaults applied.
func (m *Manager) lifetime() time.Duration { return cmp.Or(max(m.Lifetime, 0), DefaultLifetime) }
func (m *Manager) idle() time.Duration     { return max(m.IdleTimeout, 0) }
func (m *Manager) touchAfter() time.Duration {
	return cmp.Or(max(m.TouchAfter, 0), m.idle()/10)
}
func (m *Manager) maxKeys() int       { return cmp.Or(max(m.MaxKeys, -1), DefaultMaxKeys) }
func (m *Manager) cookieName() string { return cmp.Or(m.Cookie.Name, DefaultCookieName) }

// deadline is the stored expiry of a session created at created and seen
// at seen: the earlier of its absolute and its idle deadline.
func (m *Manager) deadline(created, seen time.Time) time.Time {
	d := created.Add(m.lifetime())
	if idle := m.idle(); idle > 0 && seen.Add(idle).Before(d) {
		return seen.Add(idle)
	}
	return d
}

func (m *Manager) errorFunc(w http.ResponseWriter, r *http.Request, err error) {
	if m.ErrorFunc != nil {
		m.ErrorFunc(w, r, err)
		return
	}
	if m.store != nil {
		m.be.Logger().Error("httpsession: session failed", "method", r.Method, "path", r.URL.Path, "error", err)
	}
	http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
}

// lock returns the session of ctx, locked, or nil when ctx is not from
// LoadAndSave.
func (m *Manager) lock(ctx context.Context) *state {
	if ctx == nil {
		return nil
	}
	st, _ := ctx.Value(m.key).(*state)
	if st != nil {
		st.mu.Lock()
	}
	return st
}

// do runs one operation on the store; without a store it fails with
// mongosession.ErrClosed, with an unusable one with why.
func (m *Manager) do(ctx context.Context, op string, fn func(ctx context.Context, coll *mongo.Collection) error) error {
	switch {
	case m.store == nil:
		return mongosession.ErrClosed
	case m.unusable != nil:
		return m.unusable
	}
	return m.be.Do(ctx, "httpsession: "+op, fn)
}
