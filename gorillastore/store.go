// Package gorillastore is the gorilla/sessions face of mongosession: a
// sessions.Store that keeps each session's values in MongoDB and only a
// session ID in the cookie. echo (through echo-contrib/session) and gin
// (through ginstore) build on it.
//
//	store, err := mongosession.New(ctx, mongosession.Options{URI: uri, Collection: "sessions"})
//	...
//	sessions := gorillastore.New(store, hashKey) // 32 or 64 secret random bytes
//	session, err := sessions.Get(r, "session")
//
// The session ID is 256 random bits from crypto/rand in unpadded base64url.
// With key pairs the cookie carries the ID signed (and, with an encryption
// key, encrypted) by gorilla/securecookie, so a forged or tampered cookie
// is refused without a database round trip. Without key pairs the cookie
// carries the bare ID, an unguessable bearer token as with scs.
//
// Per request: loading a session is one find by _id; saving a changed
// session is one upsert; saving an unchanged one writes nothing (see Save);
// MaxAge < 0 is one delete.
package gorillastore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
	"github.com/mongosession/mongosession"
)

// Store is a gorilla/sessions Store backed by a *mongosession.Store. It is
// safe for concurrent use once configured: set its fields before serving
// requests. Create it with New.
type Store struct {
	// Codecs sign (and optionally encrypt) the session ID in the cookie;
	// the first encodes, every one decodes, which is how keys rotate. Made
	// by New from its key pairs with securecookie.CodecsFromPairs. Empty:
	// the cookie holds the bare ID.
	Codecs []securecookie.Codec

	// Options are the cookie options every new session starts with (each
	// session gets its own copy). Default: Path "/", MaxAge the
	// mongosession store's Expires in seconds (DefaultLifetime), HttpOnly,
	// SameSite Lax. Secure is off by default, as the store cannot know
	// whether it is served over HTTPS: turn it on in production.
	//
	// MaxAge > 0: the cookie and the MongoDB record both expire MaxAge
	// seconds after the last write. MaxAge == 0: a browser-session cookie
	// whose record expires after the store's DefaultLifetime. MaxAge < 0:
	// Save deletes the record and expires the cookie.
	Options *sessions.Options

	// Serializer encodes session values for storage. Optional. Default:
	// GobSerializer (custom types need gob.Register, as with gorilla's own
	// stores); JSONSerializer is the other choice.
	Serializer Serializer

	store *mongosession.Store
}

// New returns a Store keeping its sessions in store, whose Expires also
// bounds browser-session (MaxAge 0) sessions. keyPairs are as gorilla
// documents them: an authentication key (32 or 64 bytes recommended) and
// an optional encryption key (16, 24 or 32 bytes) per pair, newest pair
// first; cookies made under an older pair are still accepted and are
// re-signed with the newest on their next Save. With no key pairs the
// cookie holds the bare session ID. A nil store gives a Store whose every
// load and save fails with mongosession.ErrClosed; New itself never
// panics.
//
// securecookie's own timestamp check is turned off on the codecs New
// makes: the record's expiry in MongoDB is what ends a session, so a
// session's own MaxAge may be longer than the store's.
func New(store *mongosession.Store, keyPairs ...[]byte) *Store {
	s := &Store{
		Codecs: securecookie.CodecsFromPairs(keyPairs...),
		Options: &sessions.Options{
			Path:     "/",
			HttpOnly: true,
			SameSite: http.SameSiteLaxMode,
		},
		Serializer: GobSerializer{},
		store:      store,
	}
	if store != nil {
		s.Options.MaxAge = int(store.Backend().DefaultLifetime() / time.Second)
	}
	for _, c := range s.Codecs {
		if sc, ok := c.(*securecookie.SecureCookie); ok {
			sc.MaxAge(0)
		}
	}
	return s
}

// MaxAge sets Options.MaxAge, the MaxAge every new session starts with.
// Unlike gorilla's own stores it leaves the codecs' timestamp check off
// (see New): a session ends when its MongoDB record expires. To end one
// session, set its Options.MaxAge to -1 and Save it.
func (s *Store) MaxAge(age int) {
	if s.Options == nil {
		s.Options = &sessions.Options{}
	}
	s.Options.MaxAge = age
}

// Get returns the session named name for this request, loading it once
// per request through gorilla's registry (see New for the contract). It
// never returns a nil session: an invalid cookie name is an error beside
// a fresh session that Save cannot store under that name.
func (s *Store) Get(r *http.Request, name string) (*sessions.Session, error) {
	if r == nil {
		return s.fresh(name), errors.New("gorillastore: Get: nil request")
	}
	session, err := sessions.GetRegistry(r).Get(s, name)
	if session == nil { // gorilla's registry refuses an invalid cookie name
		session = s.fresh(name)
	}
	return session, err
}

// New loads the session named name from the request's cookie. It never
// returns a nil session.
//
// A missing cookie, a forged, tampered or malformed one, one signed only
// by a key no longer configured, and a session that has expired or been
// deleted all give a fresh session (IsNew true, empty ID, empty Values)
// and a nil error: a hostile cookie is never an error. A session whose
// values cannot be decoded (a type no longer gob-registered, say) gives a
// fresh session and an error wrapping mongosession.ErrCorrupt; a failure
// of the database gives a fresh session and the store's error (wrapping
// mongosession.ErrUnavailable, or mongosession.ErrClosed after Close). A
// fresh session never reuses the ID of a cookie, so a record that could
// not be read is never overwritten; and Save refuses to write the fresh
// session New handed out after a database failure (see Save), so the
// user's cookie is not replaced either.
//
// A loaded session's Options are the Store's, except MaxAge, which is the
// one it was last saved with.
func (s *Store) New(r *http.Request, name string) (*sessions.Session, error) {
	session := s.fresh(name)
	if r == nil {
		return session, errors.New("gorillastore: New: nil request")
	}
	c, err := r.Cookie(name)
	if err != nil {
		return session, nil
	}
	id, ok := s.decodeCookie(name, c.Value)
	if !ok {
		return session, nil
	}
	if s.store == nil {
		return session, fmt.Errorf("gorillastore: loading session %q: %w", name, mongosession.ErrClosed)
	}
	blob, found, err := s.store.FindCtx(r.Context(), id)
	if err != nil {
		err = fmt.Errorf("gorillastore: loading session %q: %w", name, err)
		rememberLoaded(r, s, session, loaded{loadErr: err})
		return session, err
	}
	if !found {
		return session, nil
	}
	rec, err := parseRecord(blob)
	if err == nil {
		err = s.serializer().Deserialize(rec.payload, session)
	}
	if err != nil {
		session.Values = make(map[interface{}]interface{})
		return session, fmt.Errorf("gorillastore: loading session %q: %w: %w", name, mongosession.ErrCorrupt, err)
	}
	session.ID = id
	session.IsNew = false
	session.Options.MaxAge = rec.maxAge
	rememberLoaded(r, s, session, loaded{id: id, payload: rec.payload, maxAge: rec.maxAge, written: rec.written})
	return session, nil
}

// Save stores the session and sets its cookie.
//
// With Options.MaxAge < 0 it deletes the record (a missing one is not an
// error) and sends a cookie that expires it in the browser.
//
// Otherwise it writes the values with one upsert, giving a new session its
// ID first, and sends the cookie. It writes nothing to MongoDB when there
// is nothing to write: a new session without values (no record, no
// cookie), or a loaded session whose values and MaxAge have not changed
// and whose record was written less than a tenth of its lifetime ago (the
// cookie is still sent, expiring with the record). So an active session's
// record always has at least 90% of its lifetime left, a session is
// written at most once per request however often Save is called, and a
// request that only reads a session costs one find.
//
// Errors: mongosession.ErrClosed after Close, ErrUnavailable and the
// driver's error when the write fails, mongosession.ErrTooLarge for a
// session over 16 MiB, and the serializer's error for values it cannot
// encode (an unregistered gob type). When New could not load the session
// the cookie names (the database failed) and handed out a fresh one, Save
// of that fresh session writes nothing, sets no cookie and returns New's
// error: the user keeps their session for when the database is back. The
// cookie is set only when the write succeeded.
func (s *Store) Save(r *http.Request, w http.ResponseWriter, session *sessions.Session) error {
	if session == nil || w == nil {
		return errors.New("gorillastore: Save: nil session or ResponseWriter")
	}
	if session.Values == nil {
		session.Values = make(map[interface{}]interface{})
	}
	if session.Options == nil {
		session.Options = s.defaultOptions()
	}
	ctx := context.Background()
	if r != nil {
		ctx = r.Context()
	}
	name := session.Name()
	opts := session.Options

	if opts.MaxAge < 0 {
		if session.ID != "" {
			if s.store == nil {
				return fmt.Errorf("gorillastore: deleting session %q: %w", name, mongosession.ErrClosed)
			}
			if err := s.store.DeleteCtx(ctx, session.ID); err != nil {
				return fmt.Errorf("gorillastore: deleting session %q: %w", name, err)
			}
			forgetLoaded(r, s, session)
			session.ID = ""
		}
		http.SetCookie(w, sessions.NewCookie(name, "", opts))
		return nil
	}

	if err := loadFailure(r, s, session); err != nil && session.ID == "" {
		// The cookie names a session the database could not be asked
		// about: saving this stand-in would replace the user's session
		// (their cookie) with a new one, even once the database is back.
		return fmt.Errorf("gorillastore: saving session %q: not saved, since loading it failed: %w", name, err)
	}
	payload, err := s.serializer().Serialize(session)
	if err != nil {
		return fmt.Errorf("gorillastore: encoding session %q: %w", name, err)
	}
	now := time.Now()
	// A MaxAge past what a record holds (int32 seconds, 68 years; say
	// math.MaxInt for "forever") is that: it would overflow a Duration.
	maxAge := min(opts.MaxAge, math.MaxInt32)
	life := s.lifetime(maxAge)
	prev, havePrev := loadedState(r, s, session)
	if havePrev && prev.id == session.ID && prev.maxAge == maxAge &&
		now.Sub(prev.written) < life/10 && s.sameValues(prev.payload, payload, session) {
		return s.setCookie(w, session, prev.written.Add(life).Sub(now))
	}
	if session.ID == "" {
		if len(session.Values) == 0 {
			return nil // nothing to keep: no record, no cookie
		}
		session.ID = newID()
	}
	if s.store == nil {
		return fmt.Errorf("gorillastore: saving session %q: %w", name, mongosession.ErrClosed)
	}
	blob := formatRecord(record{written: now, maxAge: maxAge, payload: payload})
	if err := s.store.CommitCtx(ctx, session.ID, blob, now.Add(life)); err != nil {
		return fmt.Errorf("gorillastore: saving session %q: %w", name, err)
	}
	rememberLoaded(r, s, session, loaded{id: session.ID, payload: payload, maxAge: maxAge, written: now})
	return s.setCookie(w, session, life)
}

// setCookie sends the session's cookie, expiring after left when the
// session has a MaxAge (a browser-session cookie otherwise).
func (s *Store) setCookie(w http.ResponseWriter, session *sessions.Session, left time.Duration) error {
	value := session.ID
	if len(s.Codecs) > 0 {
		var err error
		if value, err = securecookie.EncodeMulti(session.Name(), session.ID, s.Codecs...); err != nil {
			return fmt.Errorf("gorillastore: encoding the cookie of session %q: %w", session.Name(), err)
		}
	}
	opts := *session.Options
	if opts.MaxAge > 0 {
		opts.MaxAge = max(int(left/time.Second), 1)
	}
	http.SetCookie(w, sessions.NewCookie(session.Name(), value, &opts))
	return nil
}

// decodeCookie returns the session ID a cookie value carries, and false
// for anything that cannot be one of ours: a bad signature, an expired
// key, junk. No database round trip.
func (s *Store) decodeCookie(name, value string) (string, bool) {
	if len(s.Codecs) == 0 {
		return value, validID(value)
	}
	var id string
	if err := securecookie.DecodeMulti(name, value, &id, s.Codecs...); err != nil {
		return "", false
	}
	// A signed ID is one we issued; the engine still vets it as a token.
	if s.store == nil {
		return id, id != ""
	}
	_, ok := s.store.Backend().StoredID(id)
	return id, ok
}

// sameValues reports whether payload encodes the same values as prev, the
// payload the session was loaded with. gob writes maps in random order, so
// equal bytes prove equality but different bytes do not prove a change:
// then prev is decoded and compared with the session's values.
func (s *Store) sameValues(prev, payload []byte, session *sessions.Session) bool {
	if bytes.Equal(prev, payload) {
		return true
	}
	old := sessions.NewSession(s, session.Name())
	if err := s.serializer().Deserialize(prev, old); err != nil {
		return false
	}
	return reflect.DeepEqual(old.Values, session.Values)
}

// lifetime is how long a record saved with maxAge (>= 0) lives.
func (s *Store) lifetime(maxAge int) time.Duration {
	if maxAge > 0 {
		return time.Duration(maxAge) * time.Second
	}
	if s.store == nil {
		return mongosession.DefaultExpires
	}
	return s.store.Backend().DefaultLifetime()
}

func (s *Store) fresh(name string) *sessions.Session {
	session := sessions.NewSession(s, name)
	session.Options = s.defaultOptions()
	session.IsNew = true
	return session
}

func (s *Store) defaultOptions() *sessions.Options {
	if s.Options == nil {
		return &sessions.Options{Path: "/"}
	}
	opts := *s.Options
	return &opts
}

func (s *Store) serializer() Serializer {
	if s.Serializer == nil {
		return GobSerializer{}
	}
	return s.Serializer
}
