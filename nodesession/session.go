package nodesession

import (
	"encoding/json"
	"errors"
	"math"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// ErrSaved is returned by Session.Set, Delete, Destroy and Regenerate once
// the session has been saved for this request (the response headers are on
// their way): a change made then could not reach the cookie or the store.
var ErrSaved = errors.New("nodesession: session already saved for this request")

// ErrDestroyed is returned by Session.Set, Delete and Regenerate after
// Destroy in the same request: the session is being logged out, and a
// value set now would be dropped with it.
var ErrDestroyed = errors.New("nodesession: session destroyed in this request")

// Session is the shared session of one request: the values of the session
// document the Node app (or the Go side) wrote. It is safe for concurrent
// use by the request's goroutines. Values are JSON-compatible: nil, bool,
// float64 (every number, as in JavaScript), string, time.Time (a BSON date
// in a document layout), []any and map[string]any; other BSON types stored
// by the Node app (an ObjectId, a UUID, ...) come back as the driver's Go
// types (bson.ObjectID, bson.Binary, ...), and Set writes them back
// unchanged.
type Session struct {
	mu sync.Mutex
	m  *Manager

	sid      string // "" until a new session is saved
	isNew    bool
	keyIndex int // secret that verified the cookie

	order   []string       // value keys in stored order, then new keys
	vals    map[string]any // canonical values
	changed map[string]bool
	removed map[string]bool

	cookie cookieData

	// In a JSON-string layout: the stored session field as loaded (the
	// condition of the save), and its members and the cookie's, raw.
	stored     string
	jsonMems   []jsonMember
	cookieMems []jsonMember

	lastModified *time.Time // connect-mongo touchAfter

	// loaded is the stored document as the request read it (nil for a
	// new session): what a write's size is computed from.
	loaded bson.Raw

	phase phase
}

// phase is what the request has asked of the session so far.
type phase uint8

const (
	open     phase = iota // values change; the save writes them
	renewing              // Regenerate: the save moves the session to a new id
	ending                // Destroy: the save deletes it and clears the cookie
	saved                 // saved for this request: nothing changes any more
)

// changeable returns why s cannot change now, or nil. s.mu is held.
func (s *Session) changeable() error {
	switch s.phase {
	case saved:
		return ErrSaved
	case ending:
		return ErrDestroyed
	}
	return nil
}

func newSession(m *Manager) *Session {
	return &Session{m: m, isNew: true, vals: map[string]any{}, changed: map[string]bool{}, removed: map[string]bool{}}
}

// IsNew reports whether the request carried no usable session (no cookie,
// a cookie that does not verify, or a session that is gone or expired):
// the session then starts empty and is stored only once a value is Set.
func (s *Session) IsNew() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.isNew
}

// Keys returns the session's value keys in stored order (new keys last),
// without express-session's and koa-generic-session's "cookie".
func (s *Session) Keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.order))
	for _, k := range s.order {
		if _, ok := s.vals[k]; ok {
			out = append(out, k)
		}
	}
	return out
}

// Get returns a copy of the value stored under key and whether it exists.
// Changing the copy changes nothing: Set it back.
func (s *Session) Get(key string) (any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.vals[key]
	return clone(v), ok
}

// String returns the value under key if it is a string.
func (s *Session) String(key string) (string, bool) {
	v, _ := s.Get(key)
	x, ok := v.(string)
	return x, ok
}

// Float returns the value under key if it is a number.
func (s *Session) Float(key string) (float64, bool) {
	v, _ := s.Get(key)
	x, ok := v.(float64)
	return x, ok
}

// Int returns the value under key if it is a number holding an integer
// that JavaScript represents exactly (within ±2^53).
func (s *Session) Int(key string) (int64, bool) {
	f, ok := s.Float(key)
	if !ok || f != math.Trunc(f) || math.Abs(f) > maxSafeInteger {
		return 0, false
	}
	return int64(f), true
}

// Bool returns the value under key if it is a boolean.
func (s *Session) Bool(key string) (bool, bool) {
	v, _ := s.Get(key)
	x, ok := v.(bool)
	return x, ok
}

// Time returns the value under key if it is a date: a BSON date, or a
// string in JavaScript's toISOString form (how a Date looks in a session
// stored as JSON).
func (s *Session) Time(key string) (time.Time, bool) {
	v, _ := s.Get(key)
	switch x := v.(type) {
	case time.Time:
		return x, true
	case string:
		t, err := time.Parse(time.RFC3339Nano, x)
		if err != nil {
			return time.Time{}, false
		}
		return t.UTC(), true
	}
	return time.Time{}, false
}

// Set stores value under key. The value is converted now (see ErrValue
// for what is refused); the session is written when the response starts
// (a session too large for MongoDB's 16 MiB is refused then, with
// mongosession.ErrTooLarge: see Manager.Save). Setting a value on a new
// session creates it. It returns ErrKey (see
// there: also for a key inside the value), ErrValue, ErrDestroyed after
// Destroy, or ErrSaved after the session was saved; nothing is stored then.
//
// Conversion: numbers become float64 and time.Time keeps millisecond
// precision. The driver's BSON types that Get returns (bson.ObjectID,
// bson.Decimal128, bson.Binary, bson.Timestamp, bson.JavaScript,
// bson.CodeWithScope, bson.Symbol, bson.DBPointer, bson.MinKey,
// bson.MaxKey) are kept, so Set(k, Get(k)) stores what was read; the
// exception is bson.Regex, refused with ErrValue even when Get returned
// it, because Node compiles a stored regex as a JavaScript RegExp while
// reading the session and a pattern JavaScript rejects would make every
// Node read of it fail (store the pattern as a string); bson.DateTime becomes a time.Time, bson.D, bson.M and bson.Raw
// objects, bson.Null and bson.Undefined nil. In a document layout they
// are stored as those BSON types; in a JSON-string session (connect-mongo
// with stringify, or encrypted) as JSON.stringify writes the js-bson value:
// an ObjectId as its hex string, a UUID (binary subtype 4) as dashed hex,
// other binary as base64, a Decimal128 as {"$numberDecimal": "..."}. Any
// other value with MarshalJSON or MarshalText (a [16]byte UUID type, a
// json.RawMessage) and any struct or named basic type is what
// encoding/json makes of it; other slices, arrays and maps are converted
// element by element.
func (s *Session) Set(key string, value any) error {
	if err := checkKey(key); err != nil {
		return err
	}
	v, err := normalize(value)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.changeable(); err != nil {
		return err
	}
	if _, ok := s.vals[key]; !ok && !s.has(key) {
		s.order = append(s.order, key)
	}
	s.vals[key] = v
	s.changed[key] = true
	delete(s.removed, key)
	return nil
}

func (s *Session) has(key string) bool {
	for _, k := range s.order {
		if k == key {
			return true
		}
	}
	return false
}

// Delete removes key from the session. A missing key is a no-op. It
// returns ErrKey for a key Set refuses, ErrDestroyed after Destroy, or
// ErrSaved.
func (s *Session) Delete(key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.changeable(); err != nil {
		return err
	}
	if _, ok := s.vals[key]; !ok {
		return nil
	}
	delete(s.vals, key)
	delete(s.changed, key)
	s.removed[key] = true
	return nil
}

// Destroy logs the session out: when the response starts, its document is
// deleted and the cookie cleared (with the domain and path it was issued
// with: the stored cookie's, or the CookieScheme's for a session the Go
// side started), so neither the Go nor the Node side finds it again. It
// overrides a Regenerate of the same request; Set, Delete and Regenerate
// afterwards return ErrDestroyed. It returns ErrSaved once the session was
// saved, and nil when called again.
func (s *Session) Destroy() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.phase == saved {
		return ErrSaved
	}
	s.phase = ending
	return nil
}

// Regenerate moves the session to a fresh id when the response starts, as
// a login should: the values are kept (with this request's changes, and
// any the Node app wrote since the session was loaded), the document
// under the old id is deleted in the same step, so a copy of the old
// cookie (one an attacker planted before the login) finds nothing on
// either side from then on, and the new cookie is issued in the Node
// app's format, which the Node app reads. Call it when the Go side logs a
// user in, before or after the Set that records the user. On a new
// session it changes nothing: a session the Go side starts always gets a
// fresh id. Other fields of the old document (connect-mongo's createdAt,
// your own) are not carried over, as with Node's own regenerate. When the
// old document is gone by the time of the save (the Node app logged out
// meanwhile), nothing is stored and no cookie issued: a logout wins. A
// session too large to store (mongosession.ErrTooLarge, see Manager.Save)
// is not moved: it stays under its old id, and the old cookie keeps it
// (one that another writer grew past the limit after the load is found
// too large only once taken from its old id: the session then ends).
//
// It returns ErrDestroyed after Destroy and ErrSaved after the save, and
// changes nothing then.
func (s *Session) Regenerate() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.changeable(); err != nil {
		return err
	}
	s.phase = renewing
	return nil
}

// rebase puts s's changes on top of fresh, the session as stored now
// (written by another request since s was loaded): fresh's values, stored
// members and cookie, with the values s changed and without those s
// deleted. s.mu is held.
func (s *Session) rebase(fresh *Session) {
	vals, order := fresh.vals, fresh.order
	for _, k := range s.order {
		if !s.changed[k] {
			continue
		}
		if _, ok := vals[k]; !ok && !fresh.has(k) {
			order = append(order, k)
		}
		vals[k] = s.vals[k]
	}
	for k := range s.removed {
		delete(vals, k)
	}
	s.vals, s.order = vals, order
	s.cookie, s.stored, s.jsonMems, s.cookieMems = fresh.cookie, fresh.stored, fresh.jsonMems, fresh.cookieMems
	s.lastModified, s.loaded = fresh.lastModified, fresh.loaded
}

func (s *Session) modified() bool { return len(s.changed) > 0 || len(s.removed) > 0 }

// jsonValue returns the canonical value of a raw JSON member, for JSON
// layouts.
func jsonValue(raw json.RawMessage) (any, error) { return fromJSON(raw) }
