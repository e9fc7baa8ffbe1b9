package httpsession

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mongosession/mongosession"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// phase is where a request stands with its session.
type phase uint8

const (
	// pending: the cookie names a session not read yet. Changes are kept
	// in the request and written blind, filtered on the token.
	pending phase = iota
	// fresh: no stored session (no cookie, or one naming no live
	// session). Changes start a new one: one insert under a new token.
	fresh
	// live: the session is stored and this request has its values, read
	// by a find or returned by a findAndModify, or inserted them.
	live
	// ended: this request ended the session (Destroy, a revocation). Its
	// cookie is cleared unless a new session is started after.
	ended
	// fenced: another request ended or renewed the session, during this
	// one or less than renewGrace before it (the renewal's response
	// carries the new cookie). Nothing more is stored and the cookie is
	// left alone; Destroy still sends its delete, which ends the session
	// only if a renewal kept the old token as pv.
	fenced
)

// renewGrace is how long after a renewal a request naming the session
// with another token counts as racing it (see the package documentation):
// it starts no new session, whose cookie would replace the renewed one.
// Later, the renewal's response never reached that browser, and its
// cookie is unknown.
const renewGrace = 30 * time.Second

// state is the session of one request. Its methods run under mu, so a
// handler may use the session from several goroutines.
type state struct {
	mu    sync.Mutex
	phase phase

	sel, hash string    // the session's selector (_id) and the hash of the token's verifier
	created   time.Time // from the selector
	token     string    // a token issued during this request, for the cookie
	seen      time.Time // the stored last-seen time (live)
	owner     string    // the stored user (live)
	user      string    // the user as this request sees it
	agent     string    // the User-Agent of this request, stored on insert

	vals    map[string]bson.RawValue // the values as this request sees them (pending: its own Puts only)
	sealed  map[string]bson.Binary   // the stored ciphertexts of vals (encrypted stores, for Incr)
	dirty   map[string]bool          // key -> true: $set, false: $unset
	clear   bool                     // Clear was called: replace all stored values
	userSet bool                     // SetUser was called: write user
	renew   bool                     // RenewToken was called: write a new verifier with the changes

	committed bool  // the response's headers were sent: no cookie can be set any more
	err       error // a Put that failed, reported by the save
}

func newState(m *Manager, r *http.Request) *state {
	agent := strings.ToValidUTF8(r.UserAgent(), "\uFFFD")
	if len(agent) > maxUserAgent {
		agent = strings.ToValidUTF8(agent[:maxUserAgent], "")
	}
	st := &state{phase: fresh, agent: agent, vals: map[string]bson.RawValue{}, dirty: map[string]bool{}, sealed: map[string]bson.Binary{}}
	if c, err := r.Cookie(m.cookieName()); err == nil {
		if sel, hash, created, ok := parseToken(c.Value); ok && m.deadline(created, time.Now()).After(time.Now()) {
			st.phase, st.sel, st.hash, st.created = pending, sel, hash, created
		}
	}
	return st
}

func (st *state) changed() bool { return len(st.dirty) > 0 || st.clear || st.userSet || st.renew }

// forget drops the session's values from the request, entering p: what
// follows in the request starts a new session (fresh, ended) or stores
// nothing (fenced, which keeps the token for Destroy).
func (st *state) forget(p phase) {
	if p != fenced {
		st.sel, st.hash = "", ""
	}
	st.phase, st.token, st.renew = p, "", false
	st.user, st.owner, st.userSet = "", "", false
	st.vals, st.sealed, st.dirty, st.clear = map[string]bson.RawValue{}, map[string]bson.Binary{}, map[string]bool{}, false
}

// filter names the request's session while its token is current and it
// has not expired: every command on an existing session uses it.
func (m *Manager) filter(st *state, now time.Time) bson.D {
	return bson.D{
		{Key: "_id", Value: st.sel},
		{Key: fieldVerifier, Value: st.hash},
		{Key: m.exp, Value: bson.D{{Key: "$gt", Value: bson.NewDateTimeFromTime(now)}}},
	}
}

// load reads the request's session: one find by _id. A pending request
// becomes live (its own changes applied on top of the stored values),
// fresh (no such session, a token that does not match, expired) or
// fenced (renewed less than renewGrace ago). A live request that reads
// again becomes fenced when its session is gone or its token replaced.
// Other phases read nothing.
func (m *Manager) load(ctx context.Context, st *state) error {
	if st.phase != pending && st.phase != live {
		return nil
	}
	var raw bson.Raw
	err := m.do(ctx, "loading a session", func(ctx context.Context, coll *mongo.Collection) error {
		var err error
		raw, err = coll.FindOne(ctx, bson.D{{Key: "_id", Value: st.sel}}).Raw()
		if errors.Is(err, mongo.ErrNoDocuments) {
			raw, err = nil, nil
		}
		return err
	})
	if err != nil {
		return err
	}
	now := time.Now()
	if raw != nil && m.alive(st, raw, now) {
		v, _ := raw.Lookup(fieldVerifier).StringValueOK()
		if !sameHash(v, st.hash) {
			if at, ok := raw.Lookup(fieldRenewed).TimeOK(); ok && now.Sub(at) < renewGrace {
				st.forget(fenced) // a request that raced the renewal
				return nil
			}
		} else if err := m.adopt(st, raw); err != nil {
			m.report("loading a session", err) // unreadable: as unknown
		} else {
			return nil
		}
	}
	if st.phase == live {
		st.forget(fenced)
		return nil
	}
	// An unknown or expired session: the request's own Puts (and user)
	// start a new one.
	vals, dirty, user, userSet := st.vals, st.dirty, st.user, st.userSet && st.user != ""
	st.forget(fresh)
	maps.DeleteFunc(dirty, func(_ string, put bool) bool { return !put })
	st.vals, st.dirty = vals, dirty
	if userSet {
		st.user, st.userSet = user, true
	}
	return nil
}

// alive reports whether the stored session raw has expired neither by its
// stored expiry nor under the manager's current settings.
func (m *Manager) alive(st *state, raw bson.Raw, now time.Time) bool {
	expires, ok := raw.Lookup(m.exp).TimeOK()
	if !ok || !expires.After(now) {
		return false
	}
	seen, ok := raw.Lookup(fieldLastSeen).TimeOK()
	return ok && m.deadline(st.created, seen).After(now)
}

// adopt makes the stored document raw the request's session, with the
// request's own changes applied on top. A field name this package cannot
// have written is skipped and reported; a value that does not decrypt for
// this session, key and user fails the whole session (ErrCorrupt).
func (m *Manager) adopt(st *state, raw bson.Raw) error {
	corrupt := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", mongosession.ErrCorrupt, fmt.Sprintf(format, a...))
	}
	owner := ""
	if v, err := raw.LookupErr(fieldUser); err == nil {
		var ok bool
		if owner, ok = v.StringValueOK(); !ok {
			return corrupt("%q is BSON %s, not a string", fieldUser, v.Type)
		}
	}
	if v, err := raw.LookupErr(fieldKeys); err == nil && v.Type != bson.TypeArray {
		return corrupt("%q is BSON %s, not an array", fieldKeys, v.Type)
	}
	vals, sealed := map[string]bson.RawValue{}, map[string]bson.Binary{}
	if sv, err := raw.LookupErr(fieldSession); err == nil {
		doc, ok := sv.DocumentOK()
		if !ok {
			return corrupt("%q is BSON %s, not a document", fieldSession, sv.Type)
		}
		elems, err := doc.Elements()
		if err != nil {
			return corrupt("%q: %v", fieldSession, err)
		}
		for _, e := range elems {
			key, ok := decodeKey(e.Key())
			if !ok {
				m.report("loading a session", corrupt("skipped a field whose name this package cannot have written"))
				continue
			}
			v, err := m.openValue(st.sel, e.Key(), owner, e.Value())
			if err != nil {
				return err // tampered with: the whole session is refused
			}
			vals[key] = v
			if sub, data, ok := e.Value().BinaryOK(); ok && m.encrypted {
				sealed[key] = bson.Binary{Subtype: sub, Data: data}
			}
		}
	}
	stored := len(vals)
	if st.clear {
		vals = map[string]bson.RawValue{}
	}
	for key, put := range st.dirty {
		if put {
			vals[key] = st.vals[key]
		} else {
			delete(vals, key)
		}
	}
	if max := m.maxKeys(); max >= 0 && len(vals) > max && len(vals) > stored && st.err == nil {
		st.err = fmt.Errorf("%w (%d)", ErrTooManyKeys, max)
	}
	st.phase, st.vals, st.sealed, st.owner = live, vals, sealed, owner
	st.seen, _ = raw.Lookup(fieldLastSeen).TimeOK()
	if !st.userSet {
		st.user = owner
	}
	return nil
}

// sealContext is the associated data of the value stored in field of a
// session of user: a value moved to another key or another user (or, by
// the store's own binding, another session) does not decrypt. field never
// holds a NUL (see encodeKey).
func sealContext(field, user string) string { return fieldSession + "." + field + "\x00" + user }

// openValue returns the plaintext value stored in field.
func (m *Manager) openValue(id, field, user string, v bson.RawValue) (bson.RawValue, error) {
	if !m.encrypted {
		return v, nil
	}
	sub, data, ok := v.BinaryOK()
	if !ok {
		return bson.RawValue{}, fmt.Errorf("%w: an unencrypted value, but the store has EncryptionKeys", mongosession.ErrCorrupt)
	}
	plain, err := m.be.Open(id, sealContext(field, user), bson.Binary{Subtype: sub, Data: data})
	if err != nil {
		return bson.RawValue{}, err
	}
	val, err := bson.Raw(plain).LookupErr("v")
	if err != nil || bson.Raw(plain).Validate() != nil {
		return bson.RawValue{}, fmt.Errorf("%w: a decrypted value is not a BSON document {v: value}", mongosession.ErrCorrupt)
	}
	return val, nil
}

// storeValue returns what is stored in field for the plaintext v: v itself,
// or with encryption {v: v} sealed to (id, field, user).
func (m *Manager) storeValue(id, field, user string, v bson.RawValue) (any, error) {
	if !m.encrypted {
		return v, nil
	}
	plain, err := bson.Marshal(bson.D{{Key: "v", Value: v}})
	if err != nil {
		return nil, err
	}
	return m.be.Seal(id, sealContext(field, user), plain)
}

// storeAgent returns the stored form of the User-Agent.
func (m *Manager) storeAgent(id, agent string) (any, error) {
	if !m.encrypted {
		return agent, nil
	}
	return m.be.Seal(id, fieldAgent, []byte(agent))
}

// openAgent reads a stored User-Agent; unreadable ones are "".
func (m *Manager) openAgent(id string, v bson.RawValue) string {
	if !m.encrypted {
		s, _ := v.StringValueOK()
		return s
	}
	sub, data, _ := v.BinaryOK()
	b, _ := m.be.Open(id, fieldAgent, bson.Binary{Subtype: sub, Data: data})
	return string(b)
}

// cookie returns the Set-Cookie the response needs after save, or nil: the
// token issued during the request, or a clearing cookie after the request
// ended its session. A cookie naming no live session is left alone (a
// new session started by a write replaces it).
func (m *Manager) cookie(st *state) *http.Cookie {
	c := &http.Cookie{
		Name:        m.cookieName(),
		Path:        cmp.Or(m.Cookie.Path, "/"),
		Domain:      m.Cookie.Domain,
		Secure:      m.Cookie.Secure,
		HttpOnly:    m.Cookie.HttpOnly,
		SameSite:    m.Cookie.SameSite,
		Partitioned: m.Cookie.Partitioned,
	}
	switch {
	case st.token != "":
		c.Value = st.token
		if m.Cookie.Persist {
			exp := st.created.Add(m.lifetime())
			c.Expires = exp.UTC()
			c.MaxAge = max(1, int(time.Until(exp).Round(time.Second)/time.Second))
		}
		return c
	case st.phase == ended:
		c.Expires = time.Unix(1, 0).UTC()
		c.MaxAge = -1
		return c
	}
	return nil
}
