package httpsession

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mongosession/mongosession"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// state is the session of one request. Its methods run under mu, so a
// handler may use the session from several goroutines.
type state struct {
	mu sync.Mutex

	token  string // the cookie's token; "" until the session is stored
	id     string // HashID(token)
	stored bool   // a live document exists under id

	// tomb is the _id of a document that stood for this request's session
	// and is no longer live: a renewed session's tombstone the cookie named,
	// or the session that another request ended or renewed during this one.
	// Destroy follows it (a tombstone's "next" leads to the successor), so
	// a logout sent with a renewed session's old cookie still logs out.
	// tombUser is the user it carried.
	tomb, tombUser string

	created, seen time.Time
	user          string
	// owner is the user of the stored session as this request loaded or
	// stored it. A change that another request's renewal overtook follows
	// the renewal only into a successor of this user (see chase): a
	// renewal that changed the user is a privilege change, and writes
	// racing it are dropped.
	owner string
	// followed: the request went on with the successor of a renewal that
	// another request made (see follow). It may still save and Incr there,
	// always filtered on owner, but never issue a token for it.
	followed bool
	agent    string    // the User-Agent of this request, stored on insert
	start    time.Time // when the request began, before its session was loaded (see chase)

	vals   map[string]bson.RawValue // the session's values, as this request sees them
	sealed map[string]bson.Binary   // stored ciphertexts of vals (encrypted stores, for Incr)
	dirty  map[string]bool          // key -> true: $set, false: $unset
	clear  bool                     // Clear was called: replace all values

	userDirty bool
	issued    bool  // a token was issued this request: set the cookie
	ended     bool  // this request ended the session: clear the cookie unless a new one is issued
	gone      bool  // another request ended or renewed the session: leave the cookie, store nothing more
	committed bool  // the response's headers were sent: no cookie can be set any more
	hadCookie bool  // the request carried a session cookie
	err       error // a Put that could not be encoded, reported at commit
}

func newState(r *http.Request) *state {
	agent := strings.ToValidUTF8(r.UserAgent(), "\uFFFD")
	if len(agent) > maxUserAgent {
		agent = strings.ToValidUTF8(agent[:maxUserAgent], "")
	}
	return &state{agent: agent, start: time.Now(), vals: map[string]bson.RawValue{}, dirty: map[string]bool{}}
}

// reset forgets the session: what follows in the request starts a new one.
func (st *state) reset() {
	st.token, st.id, st.stored = "", "", false
	st.tomb, st.tombUser = "", ""
	st.created, st.seen = time.Time{}, time.Time{}
	st.user, st.userDirty, st.owner, st.followed = "", false, "", false
	st.vals, st.sealed, st.dirty, st.clear = map[string]bson.RawValue{}, nil, map[string]bool{}, false
	st.issued = false
	st.ended, st.gone = true, false
}

// lost forgets a session that another request ended or renewed during this
// one. The cookie is left alone: a renewal's response carries the new one,
// and the browser's next request clears a dead one. Nothing more is stored
// in this request, lest a new session's cookie replace a renewed one. The
// session's _id is kept as st.tomb, for Destroy to follow.
func (st *state) lost() {
	id, user := st.id, st.user
	st.reset()
	st.ended, st.gone = false, true
	st.tomb, st.tombUser = id, user
}

func (st *state) changed() bool { return len(st.dirty) > 0 || st.clear || st.userDirty }

// load reads the session named by the request's cookie. A missing,
// malformed, unknown, expired or unreadable session gives a new, empty
// state (unreadable documents are reported); the error is for store
// failures only. One find by _id, none without a well-formed cookie.
func (m *Manager) load(ctx context.Context, r *http.Request) (*state, error) {
	st := newState(r)
	c, err := r.Cookie(m.cookieName())
	if err != nil {
		return st, nil
	}
	st.hadCookie = true
	if !wellFormed(c.Value) {
		return st, nil
	}
	id := mongosession.HashID(c.Value)
	var raw bson.Raw
	err = m.do(ctx, "loading a session", func(ctx context.Context, coll *mongo.Collection) error {
		var err error
		raw, err = coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Raw()
		if errors.Is(err, mongo.ErrNoDocuments) {
			raw, err = nil, nil
		}
		return err
	})
	if err != nil || raw == nil {
		return st, err
	}
	now := time.Now()
	if next, err := raw.LookupErr(fieldNext); err == nil {
		// A renewed session's tombstone, or an ended successor's stub:
		// nothing more of it is read. A tombstone keeps its _id for Destroy
		// to follow. Within renewGrace of the renewal, the renewal's
		// response is on its way with the new cookie: leave the cookie
		// alone. After it, that response never reached this browser (an
		// aborted navigation, a dropped connection), so the cookie is
		// treated as unknown: the request gets a new, empty session and the
		// cookie is replaced or cleared, rather than locking the browser
		// out until the tombstone expires. A stub is an ended session, its
		// cookie cleared.
		if s, _ := next.StringValueOK(); s != "" {
			st.tomb = id
			st.tombUser, _ = raw.Lookup(fieldUser).StringValueOK()
			st.gone = inGrace(raw, now)
		}
		return st, nil
	}
	if expires, ok := raw.Lookup(m.expiresKey()).TimeOK(); ok && !expires.After(now) {
		// Expired: nothing more of it is read.
		return st, nil
	}
	if err := m.decode(st, id, raw); err != nil {
		m.report("loading a session", err)
		st.reset()
		st.ended = false
		return st, nil
	}
	if !m.deadline(st.created, st.seen).After(now) {
		// Expired, whether or not the TTL monitor or reaper removed it yet,
		// and whatever the stored deadline says under the current settings.
		st.reset()
		st.ended = false
		return st, nil
	}
	st.token, st.id, st.stored = c.Value, id, true
	st.owner = st.user
	return st, nil
}

// renewGrace is how long after a renewal a request carrying the old token
// is taken for one that raced the renewal, whose response carries the new
// cookie: it stores nothing and leaves its cookie alone. 30 seconds covers the renewal's own response reaching the
// browser, slow networks included. Later, the old token is an unknown
// cookie: the renewal's response never arrived.
const renewGrace = 30 * time.Second

// inGrace reports whether the tombstone raw was fenced less than
// renewGrace before now. A tombstone without a fence time (left by an
// older version) is past its grace.
func inGrace(raw bson.Raw, now time.Time) bool {
	t, ok := raw.Lookup(fieldRenewed).TimeOK()
	return ok && now.Sub(t) < renewGrace
}

// clockSkew is how far the clocks of the servers running the manager may
// disagree: a renewal's fence time, set by one server, is compared with a
// request's start, set by another.
const clockSkew = renewGrace

// raced reports whether the tombstone raw is of a renewal that a request
// which started at start may have raced, so that chase carries its change
// to the successor: the tombstone records a renewal's fence ("renewed";
// a tombstone a failed logout put back has none, see restoreTombstone),
// the fence came after the request started (it did, by definition, when
// the request loaded the session the tombstone replaced; clockSkew allows
// for the servers' clocks), and the tombstone has not expired (its ten
// minutes bound how long a request can follow it). How long ago the fence
// was does not matter: a slow upload saved minutes after a renewal raced
// it all the same.
func (m *Manager) raced(raw bson.Raw, start, now time.Time) bool {
	renewed, ok := raw.Lookup(fieldRenewed).TimeOK()
	if !ok || renewed.Before(start.Add(-clockSkew)) {
		return false
	}
	expires, ok := raw.Lookup(m.expiresKey()).TimeOK()
	return ok && expires.After(now)
}

// decode fills st from a stored document. Errors wrap
// mongosession.ErrCorrupt and never hold the token.
func (m *Manager) decode(st *state, id string, raw bson.Raw) error {
	corrupt := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", mongosession.ErrCorrupt, fmt.Sprintf(format, a...))
	}
	if _, ok := raw.Lookup(m.expiresKey()).TimeOK(); !ok {
		return corrupt("no date in %q", m.expiresKey())
	}
	var ok bool
	if st.created, ok = raw.Lookup(fieldCreated).TimeOK(); !ok {
		return corrupt("no date in %q", fieldCreated)
	}
	if st.seen, ok = raw.Lookup(fieldLastSeen).TimeOK(); !ok {
		st.seen = st.created
	}
	if v, err := raw.LookupErr(fieldUser); err == nil {
		if st.user, ok = v.StringValueOK(); !ok {
			return corrupt("%q is BSON %s, not a string", fieldUser, v.Type)
		}
	}
	sv, err := raw.LookupErr(fieldSession)
	if err != nil {
		return nil // a session without values
	}
	doc, ok := sv.DocumentOK()
	if !ok {
		return corrupt("%q is BSON %s, not a document", fieldSession, sv.Type)
	}
	elems, err := doc.Elements()
	if err != nil {
		return corrupt("%q: %v", fieldSession, err)
	}
	for _, e := range elems {
		field := e.Key()
		key, ok := decodeKey(field)
		if !ok {
			m.report("loading a session", corrupt("skipped a field whose name this package cannot have written"))
			continue
		}
		v, err := m.openValue(id, field, e.Value())
		if err != nil {
			return err
		}
		st.vals[key] = v
		if m.encrypted {
			if st.sealed == nil {
				st.sealed = map[string]bson.Binary{}
			}
			sub, data, _ := e.Value().BinaryOK()
			st.sealed[key] = bson.Binary{Subtype: sub, Data: data}
		}
	}
	return nil
}

// sealContext is the associated data naming a stored value's field.
func sealContext(field string) string { return fieldSession + "." + field }

// openValue returns the plaintext value stored in field.
func (m *Manager) openValue(id, field string, v bson.RawValue) (bson.RawValue, error) {
	if !m.encrypted {
		return v, nil
	}
	sub, data, ok := v.BinaryOK()
	if !ok {
		return bson.RawValue{}, fmt.Errorf("%w: an unencrypted value, but the store has EncryptionKeys", mongosession.ErrCorrupt)
	}
	plain, err := m.store.Open(id, sealContext(field), bson.Binary{Subtype: sub, Data: data})
	if err != nil {
		return bson.RawValue{}, err
	}
	doc := bson.Raw(plain)
	if err := doc.Validate(); err != nil {
		return bson.RawValue{}, fmt.Errorf("%w: a decrypted value is not BSON", mongosession.ErrCorrupt)
	}
	val, err := doc.LookupErr("v")
	if err != nil {
		return bson.RawValue{}, fmt.Errorf("%w: a decrypted value has no \"v\"", mongosession.ErrCorrupt)
	}
	return val, nil
}

// storeValue returns what is stored in field for the plaintext v: v itself,
// or with encryption {v: v} sealed to (id, field).
func (m *Manager) storeValue(id, field string, v bson.RawValue) (any, error) {
	if !m.encrypted {
		return v, nil
	}
	plain, err := bson.Marshal(bson.D{{Key: "v", Value: v}})
	if err != nil {
		return nil, err
	}
	return m.store.Seal(id, sealContext(field), plain)
}

// storeAgent returns the stored form of the User-Agent.
func (m *Manager) storeAgent(id, agent string) (any, error) {
	if !m.encrypted {
		return agent, nil
	}
	return m.store.Seal(id, fieldAgent, []byte(agent))
}

// openAgent reads a stored User-Agent; unreadable ones are "".
func (m *Manager) openAgent(id string, v bson.RawValue) string {
	if s, ok := v.StringValueOK(); ok && !m.encrypted {
		return s
	}
	sub, data, ok := v.BinaryOK()
	if !ok || !m.encrypted {
		return ""
	}
	b, err := m.store.Open(id, fieldAgent, bson.Binary{Subtype: sub, Data: data})
	if err != nil {
		return ""
	}
	return string(b)
}

// sessionDoc returns the "session" sub-document holding all of st's values,
// stored under id.
func (m *Manager) sessionDoc(st *state, id string) (bson.D, error) {
	doc := make(bson.D, 0, len(st.vals))
	for key, v := range st.vals {
		field := encodeKey(key)
		sv, err := m.storeValue(id, field, v)
		if err != nil {
			return nil, err
		}
		doc = append(doc, bson.E{Key: field, Value: sv})
	}
	return doc, nil
}

// insert stores st as a new document under a fresh token: one insert. The
// created time is kept when st has one.
func (m *Manager) insert(ctx context.Context, st *state) error {
	token, err := newToken()
	if err != nil {
		return err
	}
	return m.insertAs(ctx, st, token, st.agent)
}

// insertAs stores st's values and user as a new document under token, with
// agent as its User-Agent: one insert. On success st names the new
// document and the cookie is issued with the response.
func (m *Manager) insertAs(ctx context.Context, st *state, token, agent string) error {
	if st.committed {
		return ErrHeadersWritten
	}
	id := mongosession.HashID(token)
	now := time.Now()
	created := st.created
	if created.IsZero() {
		created = now
	}
	values, err := m.sessionDoc(st, id)
	if err != nil {
		return err
	}
	storedAgent, err := m.storeAgent(id, agent)
	if err != nil {
		return err
	}
	doc := bson.D{
		{Key: "_id", Value: id},
		{Key: fieldSession, Value: values},
		{Key: m.expiresKey(), Value: bson.NewDateTimeFromTime(m.deadline(created, now))},
		{Key: fieldCreated, Value: bson.NewDateTimeFromTime(created)},
		{Key: fieldLastSeen, Value: bson.NewDateTimeFromTime(now)},
		{Key: fieldAgent, Value: storedAgent},
	}
	if st.user != "" {
		doc = append(doc, bson.E{Key: fieldUser, Value: st.user})
	}
	if err := checkSize(doc); err != nil {
		return err
	}
	err = m.do(ctx, "inserting a session", func(ctx context.Context, coll *mongo.Collection) error {
		_, err := coll.InsertOne(ctx, doc)
		if mongo.IsDuplicateKeyError(err) {
			return errSuccessorEnded // 256 random bits never collide: a stub left by end
		}
		return err
	})
	if err != nil {
		return err
	}
	st.token, st.id, st.stored = token, id, true
	st.owner, st.followed = st.user, false
	st.created, st.seen = created, now
	st.dirty, st.clear, st.userDirty = map[string]bool{}, false, false
	st.issued = true
	if m.encrypted {
		st.sealed = map[string]bson.Binary{}
		for _, e := range values {
			if b, ok := e.Value.(bson.Binary); ok {
				if key, ok := decodeKey(e.Key); ok {
					st.sealed[key] = b
				}
			}
		}
	}
	return nil
}

// checkSize fails with mongosession.ErrTooLarge when doc cannot be sent.
func checkSize(doc any) error {
	b, err := bson.Marshal(doc)
	if err != nil {
		return fmt.Errorf("httpsession: encoding the session: %w", err)
	}
	if len(b) > mongosession.MaxDocumentSize {
		return fmt.Errorf("%w: %d bytes", mongosession.ErrTooLarge, len(b))
	}
	return nil
}

// liveFilter matches the stored session id while it has not expired and
// is not a renewed session's tombstone or an ended successor's stub (both
// carry fieldNext): every update of an existing session uses it, never an
// upsert, so a session that was deleted, renewed or has expired never
// comes back.
func (m *Manager) liveFilter(id string, now time.Time) bson.D {
	return bson.D{
		{Key: "_id", Value: id},
		{Key: m.expiresKey(), Value: bson.D{{Key: "$gt", Value: bson.NewDateTimeFromTime(now)}}},
		{Key: fieldNext, Value: bson.D{{Key: "$exists", Value: false}}},
	}
}

// userFilter matches a session of user ("" is a session without a user).
func userFilter(user string) bson.E {
	if user == "" {
		return bson.E{Key: fieldUser, Value: bson.D{{Key: "$exists", Value: false}}}
	}
	return bson.E{Key: fieldUser, Value: user}
}

// writeFilter is liveFilter for a write of st's session to id. A write to
// any document but the one the request loaded or stored (a renewal's
// successor, see chase) also requires that document's user to be st.owner,
// so that a request authenticated by a token from before a login never
// writes into the logged-in session.
func (m *Manager) writeFilter(st *state, id string, now time.Time) bson.D {
	f := m.liveFilter(id, now)
	if id != st.id || st.followed {
		f = append(f, userFilter(st.owner))
	}
	return f
}

// save writes what the request changed. It is called once per request,
// before the response's headers are sent.
//
//   - new session, nothing changed: nothing is written;
//   - new session with changes: one insert under a fresh token;
//   - stored session with changes: one update of the changed keys ($set,
//     $unset) and of the last-seen time and expiry, filtered on _id and
//     expiry, without upsert; a session ended meanwhile (logout, revoke,
//     expiry) stays so, this request's changes are dropped and its cookie
//     is left alone (see lost). When the update misses because another
//     request renewed the token meanwhile, the same change is applied to
//     the successor if it has the user this request loaded (see chase:
//     one find, one more update), and the request goes on with it; the
//     cookie is left alone, since the renewal's response carries the new
//     one. A change of user (SetUser) is never carried across a renewal:
//     such a request is lost;
//   - a session found ended or renewed earlier in the request: nothing;
//   - stored session, nothing changed: nothing, or once per TouchAfter one
//     update of the last-seen time and expiry only.
func (m *Manager) save(ctx context.Context, st *state) error {
	if st.err != nil {
		return st.err
	}
	if st.gone {
		return nil // ended or renewed by another request: see lost
	}
	if st.followed && st.userDirty {
		// A change of user in a request that went on with another
		// request's successor: never carried across a renewal.
		st.lost()
		return nil
	}
	if !st.stored {
		if !st.changed() {
			return nil
		}
		return m.insert(ctx, st)
	}
	now := time.Now()
	if !st.changed() {
		if ta := m.touchAfter(); ta <= 0 || now.Sub(st.seen) < ta {
			return nil
		}
	}
	update := func(id string) (bson.D, error) { return m.saveUpdate(st, id, now) }
	first, err := update(st.id)
	if err != nil {
		return err
	}
	if err := checkSize(first); err != nil {
		return err
	}
	apply := func(ctx context.Context, id string) (bool, error) {
		u := first
		if id != st.id && m.encrypted {
			// Values are sealed to their session's _id: seal them again
			// for the successor.
			var err error
			if u, err = update(id); err != nil {
				return false, err
			}
		}
		var matched bool
		err := m.do(ctx, "saving a session", func(ctx context.Context, coll *mongo.Collection) error {
			res, err := coll.UpdateOne(ctx, m.writeFilter(st, id, now), u)
			if err == nil {
				matched = res.MatchedCount > 0
			}
			return err
		})
		return matched, err
	}
	matched, err := apply(ctx, st.id)
	if err != nil {
		return err
	}
	if !matched && st.userDirty {
		// Ended, or renewed by another request while this one changed the
		// user: a change of privilege is not carried across a renewal.
		st.lost()
		return nil
	}
	if !matched {
		id, err := m.chase(ctx, st.id, st.start, apply)
		if err != nil {
			return err
		}
		if id == "" {
			// Destroyed, revoked or expired during the request (or renewed
			// long ago): it stays so, and the cookie is left alone.
			st.lost()
			return nil
		}
		st.follow(id)
	}
	st.seen = now
	if st.userDirty {
		st.owner = st.user
	}
	st.dirty, st.clear, st.userDirty = map[string]bool{}, false, false
	return nil
}

// saveUpdate returns the update that writes what st changed, with values
// sealed to id when the store encrypts them.
func (m *Manager) saveUpdate(st *state, id string, now time.Time) (bson.D, error) {
	set := bson.D{
		{Key: m.expiresKey(), Value: bson.NewDateTimeFromTime(m.deadline(st.created, now))},
		{Key: fieldLastSeen, Value: bson.NewDateTimeFromTime(now)},
	}
	var unset bson.D
	if st.clear {
		values, err := m.sessionDoc(st, id)
		if err != nil {
			return nil, err
		}
		set = append(set, bson.E{Key: fieldSession, Value: values})
	} else {
		for key, put := range st.dirty {
			field := encodeKey(key)
			path := fieldSession + "." + field
			if !put {
				unset = append(unset, bson.E{Key: path, Value: ""})
				continue
			}
			sv, err := m.storeValue(id, field, st.vals[key])
			if err != nil {
				return nil, err
			}
			set = append(set, bson.E{Key: path, Value: sv})
		}
	}
	if st.userDirty {
		// The user is saved with the request: it becomes the owner the
		// request's later writes require (see writeFilter).
		if st.user == "" {
			unset = append(unset, bson.E{Key: fieldUser, Value: ""})
		} else {
			set = append(set, bson.E{Key: fieldUser, Value: st.user})
		}
	}
	update := bson.D{{Key: "$set", Value: set}}
	if len(unset) > 0 {
		update = append(update, bson.E{Key: "$unset", Value: unset})
	}
	return update, nil
}

// follow makes the successor id, which a renewal by another request
// stored, the request's session. chase only reaches a successor whose user
// is st.owner, so User keeps answering what the request loaded. Its token
// is the renewal's, which the renewal's response carries: this request
// sets no cookie (st.issued stays false) and cannot issue one (RenewToken
// fails with ErrSessionEnded), and every later write of it requires the
// successor's user to be st.owner (see writeFilter). Sealed values of the
// old _id are forgotten (Incr reads them anew).
func (st *state) follow(id string) {
	st.id = id
	st.followed = true
	st.sealed = nil
}

// maxChase bounds the finds and retries of chase.
const maxChase = 8

// chase finds where the session from went after a change filtered on it
// (apply, which reports whether its filter matched) missed, and applies
// the change there. When from is the tombstone of a renewal the request
// (which started at start) raced (see raced), apply is tried on its
// successor, and on theirs in turn (apply's filter,
// writeFilter, requires the successor to have the user the request loaded:
// a renewal that changed the user, as a login does, is not followed); a successor not
// inserted yet is waited for briefly (the renewal inserts it right after
// its fence), and a renewal that failed and restored from is applied to
// from again. It returns the _id where apply matched, or "" when the
// session ended (deleted, expired, a stub, a tombstone the request cannot
// have raced) or chase gave up after maxChase finds. One find by _id per step, plus the
// retried apply: only requests that raced a renewal or an end pay for it.
func (m *Manager) chase(ctx context.Context, from string, start time.Time, apply func(ctx context.Context, id string) (bool, error)) (string, error) {
	id := from
	for attempt := range maxChase {
		var raw bson.Raw
		err := m.do(ctx, "following a renewed session", func(ctx context.Context, coll *mongo.Collection) error {
			var err error
			raw, err = coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Raw()
			if errors.Is(err, mongo.ErrNoDocuments) {
				raw, err = nil, nil
			}
			return err
		})
		if err != nil {
			return "", err
		}
		if raw == nil {
			if id == from {
				return "", nil // deleted: a logout or a revocation
			}
			// The renewal has not inserted the successor yet, or it failed
			// and restored from: wait a moment and look again from from.
			select {
			case <-time.After(time.Duration(5<<min(attempt, 4)) * time.Millisecond):
			case <-ctx.Done():
				return "", ctx.Err()
			}
			id = from
			continue
		}
		nv, err := raw.LookupErr(fieldNext)
		if err != nil {
			// A live document (restored by a failed renewal, or inserted
			// since apply missed), an expired one, or a successor of
			// another user: apply again, which misses on the last two.
			ok, err := apply(ctx, id)
			if err != nil || !ok {
				return "", err
			}
			return id, nil
		}
		next, _ := nv.StringValueOK()
		if next == "" || !m.raced(raw, start, time.Now()) {
			return "", nil // a stub, or a tombstone this request cannot have raced
		}
		id = next
		ok, err := apply(ctx, id)
		if err != nil {
			return "", err
		}
		if ok {
			return id, nil
		}
	}
	return "", nil
}

// cookie returns the Set-Cookie the response needs after save, or nil.
func (m *Manager) cookie(st *state) *http.Cookie {
	c := &http.Cookie{
		Name:        m.cookieName(),
		Path:        m.Cookie.Path,
		Domain:      m.Cookie.Domain,
		Secure:      m.Cookie.Secure,
		HttpOnly:    m.Cookie.HttpOnly,
		SameSite:    m.Cookie.SameSite,
		Partitioned: m.Cookie.Partitioned,
	}
	if c.Path == "" {
		c.Path = "/"
	}
	switch {
	case st.stored && st.issued:
		c.Value = st.token
		if m.Cookie.Persist {
			exp := st.created.Add(m.lifetime())
			c.Expires = exp.UTC()
			c.MaxAge = int(time.Until(exp).Round(time.Second) / time.Second)
			if c.MaxAge <= 0 {
				c.MaxAge = 1
			}
		}
		return c
	case !st.stored && !st.gone && (st.ended || st.hadCookie):
		c.Expires = time.Unix(1, 0).UTC()
		c.MaxAge = -1
		return c
	}
	return nil
}

var findAfter = options.FindOneAndUpdate().SetReturnDocument(options.After)
