package mongosession

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"
)

// AutoRemove says how expired sessions leave the collection. Whatever the
// mode, an expired session is never returned, counted or iterated: every
// read checks the stored expiry itself, so correctness never depends on it.
type AutoRemove int

const (
	// AutoRemoveTTL creates a TTL index on the expiry field and lets the
	// server delete expired documents (its TTL monitor runs every 60 s).
	// When the server has no TTL indexes (FerretDB 1.x answers
	// NotImplemented), the store falls back to AutoRemoveInterval and says
	// so once in the log. This is the default.
	AutoRemoveTTL AutoRemove = iota

	// AutoRemoveInterval creates no index and runs a reaper that deletes
	// expired documents every CleanupInterval, stopped by Close.
	AutoRemoveInterval

	// AutoRemoveOff creates no index and runs no reaper: expired documents
	// stay until something else removes them.
	AutoRemoveOff
)

// String returns the mode's name, as used in log lines and errors.
func (a AutoRemove) String() string {
	switch a {
	case AutoRemoveTTL:
		return "ttl"
	case AutoRemoveInterval:
		return "interval"
	case AutoRemoveOff:
		return "off"
	}
	return fmt.Sprintf("AutoRemove(%d)", int(a))
}

// Options configure a Store. Zero values mean "use the default"; New
// validates every field and returns an error naming the one that is wrong.
type Options struct {
	// URI is the MongoDB connection string. Required unless Client is set;
	// setting both is an error. The store owns the client it makes from the
	// URI and disconnects it on Close. A mongodb+srv URI is resolved in New:
	// a failed DNS lookup is ErrUnavailable, not an invalid option (the
	// lookup is bounded by the system resolver's timeouts, which ctx cannot
	// shorten: the driver's resolver takes no context).
	URI string

	// Client is an existing, connected client to reuse (one connection pool
	// per process). Optional. Close leaves it open: its owner disconnects it.
	// Its read preference does not apply to sessions: the store always
	// reads them from the primary (see ClientOptions).
	Client *mongo.Client

	// ClientOptions are extra driver options applied after URI (the Node
	// store's connectionOptions): pool size, TLS, write concern, a command
	// monitor. Optional; only valid with URI. A read preference here or in
	// the URI is ignored for sessions, which are always read from the
	// primary: a secondary that lags could answer with a session already
	// logged out, or without one just created.
	ClientOptions *options.ClientOptions

	// Database holds the sessions collection. Optional. Default: the
	// database named in the URI's path, else "mongosession".
	Database string

	// Collection is the sessions collection. Required: two applications
	// never share a collection by accident.
	Collection string

	// Expires is the lifetime of a session written without an expiry (a
	// zero expiry time). Optional. Default: 14 days.
	Expires time.Duration

	// ExpiresKey is the name of the date field holding a session's absolute
	// expiry, which the TTL index covers. Optional. Default: "expires".
	ExpiresKey string

	// ExpireAfter is the TTL index's expireAfterSeconds: how long after its
	// expiry the server may delete a document. Optional. Default: 0. Must be
	// whole seconds. Reads ignore it: an expired session is "not found" at
	// once.
	ExpireAfter time.Duration

	// AutoRemove selects how expired documents are deleted. Optional.
	// Default: AutoRemoveTTL.
	AutoRemove AutoRemove

	// CleanupInterval is how often the reaper deletes expired documents
	// (AutoRemoveInterval, or AutoRemoveTTL on a server without TTL
	// indexes). Optional. Default: 1 minute.
	CleanupInterval time.Duration

	// Timeout bounds each operation whose context has no deadline (scs's
	// context-free methods, index creation, the reaper), and New's first
	// contact with the server when New's ctx has no deadline, so that a dead
	// server never hangs a request. A ctx with a deadline is bounded by that
	// deadline instead. Optional. Default: 5 seconds.
	Timeout time.Duration

	// PlainIDs stores each token itself as the document's _id instead of
	// its SHA-256 (base64url, unpadded). Optional. Default: false, so that
	// a copy of the collection (a backup, a dump, a read-only database
	// user) yields no usable cookie. Turn it on only for a collection
	// shared with an Express or Koa app, whose stores look sessions up by
	// the plain id (nodesession requires it). With the default, iteration
	// (All, Iter) yields the stored hashes, not tokens.
	PlainIDs bool

	// MigratePlainIDs reads a session stored under its plain token (by a
	// store that had PlainIDs on) when no hashed one exists, and moves it
	// to the hashed key on its next commit. Keep it on for one session
	// lifetime after turning PlainIDs off, then remove it: each miss costs
	// a second lookup, each commit and each Delete a second command (the
	// delete of the plain copy). Documents written under a hash carry
	// {hashed: true} and are never found under a plain token, so a stored
	// hash does not work as a cookie. Optional. Default: false. Not valid
	// with PlainIDs.
	MigratePlainIDs bool

	// EndedFor is how long Delete's ended marker stays in place of a
	// session: as long as that, a request still in flight with the
	// session's token cannot bring it back (its Commit writes nothing).
	// Set it to at least the longest a request of the application can
	// take. The marker never outlives the session's own expiry, and the
	// TTL index or the reaper removes it like any expired document.
	// Optional. Default: 1 hour.
	EndedFor time.Duration

	// EncryptionKeys turns on encryption at rest of the session data with
	// AES-256-GCM. Each key is 32 bytes. The first key encrypts; every key
	// decrypts, so a key is rotated by putting a new one first, and data
	// written under an older key is re-encrypted on its next commit. The
	// document's _id is bound in as associated data, so a ciphertext copied
	// into another session does not decrypt. Optional. Default: none.
	EncryptionKeys [][]byte

	// OnError receives failures that no caller is waiting for: index
	// creation, the reaper, a stored document that cannot be decoded or
	// decrypted (the read then reports "not found"). It is the Node store's
	// "error" event. It must not block for long. Optional. Default: none;
	// such failures are logged either way.
	OnError func(error)

	// Logger receives the store's own log lines (fallbacks, background
	// failures). It never receives a session token. Optional. Default:
	// slog.Default().
	Logger *slog.Logger
}

// The defaults New applies to zero-valued Options fields.
const (
	// DefaultExpires is Options.Expires's default: 14 days, as the Node
	// stores.
	DefaultExpires = 14 * 24 * time.Hour
	// DefaultExpiresKey is Options.ExpiresKey's default.
	DefaultExpiresKey = "expires"
	// DefaultDatabase is used when neither Options.Database nor the URI's
	// path names a database.
	DefaultDatabase = "mongosession"
	// DefaultCleanupInterval is Options.CleanupInterval's default.
	DefaultCleanupInterval = time.Minute
	// DefaultTimeout is Options.Timeout's default.
	DefaultTimeout = 5 * time.Second
	// DefaultEndedFor is Options.EndedFor's default: longer than any
	// request of a web application should take.
	DefaultEndedFor = time.Hour
)

// config is Options validated and with defaults applied.
type config struct {
	Options
	uriDatabase string
}

// OptionError reports an invalid option. errors.Is(err, ErrInvalidOptions)
// holds for every OptionError.
type OptionError struct {
	// Field names the Options field, as in "Collection" or "EncryptionKeys".
	Field string
	// Reason says what is wrong with it, for people.
	Reason string
	// Err is the underlying error (a URI parse error, say), or nil.
	Err error
}

// Error returns "mongosession: Options.Field: reason".
func (e *OptionError) Error() string {
	msg := "mongosession: Options." + e.Field + ": " + e.Reason
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the underlying cause, if any.
func (e *OptionError) Unwrap() error { return e.Err }

// Is reports whether target is ErrInvalidOptions.
func (e *OptionError) Is(target error) bool { return target == ErrInvalidOptions }

func optErr(field, reason string) error { return &OptionError{Field: field, Reason: reason} }

// validate checks every option and fills in defaults.
func (o Options) validate() (config, error) {
	c := config{Options: o}
	switch {
	case o.URI == "" && o.Client == nil:
		return c, optErr("URI", "required unless Options.Client is set")
	case o.URI != "" && o.Client != nil:
		return c, optErr("URI", "set either URI or Client, not both")
	case o.Client != nil && o.ClientOptions != nil:
		return c, optErr("ClientOptions", "only valid with URI; configure the Client itself instead")
	}
	if isSRV(o.URI) {
		// Parsing a mongodb+srv URI looks its hosts up in DNS, which is
		// New's connection work (bounded, classified as ErrUnavailable
		// when it fails), not validation: take only the database here.
		db, err := srvDatabase(o.URI)
		if err != nil {
			return c, &OptionError{Field: "URI", Reason: "cannot parse the connection string", Err: redactURIError(err, o.URI)}
		}
		c.uriDatabase = db
	} else if o.URI != "" {
		cs, err := connstring.ParseAndValidate(o.URI)
		if err != nil {
			// The driver's message may quote the URI, which can hold a
			// password: report the field and a redacted reason.
			return c, &OptionError{Field: "URI", Reason: "cannot parse the connection string", Err: redactURIError(err, o.URI)}
		}
		c.uriDatabase = cs.Database
	}
	if o.Collection == "" {
		return c, optErr("Collection", "required")
	}
	if err := checkName(o.Collection); err != "" {
		return c, optErr("Collection", err)
	}
	if c.Database == "" {
		c.Database = c.uriDatabase
	}
	if c.Database == "" {
		c.Database = DefaultDatabase
	}
	if err := checkName(c.Database); err != "" || strings.ContainsAny(c.Database, `/\. "*<>:|?`) {
		if err == "" {
			err = `must not contain any of /\. "*<>:|?`
		}
		return c, optErr("Database", err)
	}
	if o.Expires < 0 {
		return c, optErr("Expires", "must not be negative")
	}
	if c.Expires == 0 {
		c.Expires = DefaultExpires
	}
	if c.ExpiresKey == "" {
		c.ExpiresKey = DefaultExpiresKey
	}
	if err := checkName(c.ExpiresKey); err != "" || strings.ContainsAny(c.ExpiresKey, ".$") || c.ExpiresKey == "_id" || c.ExpiresKey == sessionField ||
		c.ExpiresKey == endedField || c.ExpiresKey == hashedField {
		if err == "" {
			err = `must be a plain top-level field name (no "." or "$", not "_id", "session", "ended" or "hashed")`
		}
		return c, optErr("ExpiresKey", err)
	}
	if o.ExpireAfter < 0 {
		return c, optErr("ExpireAfter", "must not be negative")
	}
	if o.ExpireAfter%time.Second != 0 {
		return c, optErr("ExpireAfter", "must be whole seconds (it becomes expireAfterSeconds)")
	}
	if o.ExpireAfter/time.Second > 1<<31-1 {
		return c, optErr("ExpireAfter", "too large for expireAfterSeconds")
	}
	switch o.AutoRemove {
	case AutoRemoveTTL, AutoRemoveInterval, AutoRemoveOff:
	default:
		return c, optErr("AutoRemove", "unknown mode "+o.AutoRemove.String())
	}
	if o.CleanupInterval < 0 {
		return c, optErr("CleanupInterval", "must not be negative")
	}
	if c.CleanupInterval == 0 {
		c.CleanupInterval = DefaultCleanupInterval
	}
	if o.Timeout < 0 {
		return c, optErr("Timeout", "must not be negative")
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if o.MigratePlainIDs && o.PlainIDs {
		return c, optErr("MigratePlainIDs", "moves sessions from plain IDs to hashed ones; not valid with PlainIDs")
	}
	if o.EndedFor < 0 {
		return c, optErr("EndedFor", "must not be negative")
	}
	if c.EndedFor == 0 {
		c.EndedFor = DefaultEndedFor
	}
	for i, k := range o.EncryptionKeys {
		if len(k) != 32 {
			return c, optErr("EncryptionKeys", fmt.Sprintf("key %d is %d bytes; AES-256 needs 32", i, len(k)))
		}
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

// checkName returns why s cannot be a database, collection or field name,
// or "" when it can.
func checkName(s string) string {
	switch {
	case !utf8.ValidString(s):
		return "must be valid UTF-8"
	case strings.ContainsRune(s, 0):
		return "must not contain NUL"
	case strings.HasPrefix(s, "$"):
		return `must not start with "$"`
	}
	return ""
}

// isSRV reports whether uri is a mongodb+srv connection string.
func isSRV(uri string) bool {
	return len(uri) >= len("mongodb+srv://") && strings.EqualFold(uri[:len("mongodb+srv://")], "mongodb+srv://")
}

// srvDatabase returns the database named in the path of a mongodb+srv
// URI, without the DNS lookups that parsing it in full makes. User info
// cannot hold an unescaped "/", so the first one after the scheme starts
// the path.
func srvDatabase(uri string) (string, error) {
	rest := uri[len("mongodb+srv://"):]
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		rest = rest[:i]
	}
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		return "", nil
	}
	db, err := url.PathUnescape(rest[i+1:])
	if err != nil {
		return "", fmt.Errorf("database name: %w", err)
	}
	return db, nil
}

// redactURIError returns err with its text stripped of anything from the
// URI that may be secret: the URI itself, and every quoted string in the
// driver's message except an option name (the driver quotes option values,
// such as authMechanismProperties, which can hold credentials).
func redactURIError(err error, uri string) error {
	msg := strings.ReplaceAll(err.Error(), uri, "<uri>")
	msg = quoted.ReplaceAllStringFunc(msg, func(q string) string {
		if name, uerr := strconv.Unquote(q); uerr == nil && isOptionName(name) &&
			strings.Contains(strings.ToLower(uri), strings.ToLower(name)+"=") {
			return q
		}
		return `"<redacted>"`
	})
	return errors.New(msg)
}

var quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// isOptionName reports whether name looks like a connection-string option
// name: ASCII letters only.
func isOptionName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') {
			return false
		}
	}
	return true
}
