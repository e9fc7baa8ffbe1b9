package nodesession

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// ErrSaved is returned by Session.Set, Delete and Destroy once the session
// has been saved for this request (the response headers are on their way):
// a change made then could not reach the cookie or the store.
var ErrSaved = errors.New("nodesession: session already saved for this request")

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

	cookie     cookieData
	jsonMode   bool         // session stored as JSON text (stringify or encrypted)
	jsonMems   []jsonMember // JSON mode: the stored members, raw
	cookieMems []jsonMember // JSON mode: the stored cookie's members, raw

	lastModified *time.Time // connect-mongo touchAfter

	destroyed bool
	saved     bool
}

// cookieData is the stored session.cookie, as the Go side needs it.
type cookieData struct {
	present        bool
	originalMaxAge *float64 // express: null is nil
	maxAge         *float64 // koa
	expires        *time.Time
	path           string
	domain         string
	secure         bool
	httpOnly       bool
	sameSite       string
	partitioned    bool
	priority       string
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

func checkKey(key string) error {
	if key == "" || key == "cookie" || strings.HasPrefix(key, "$") || strings.Contains(key, ".") ||
		!utf8.ValidString(key) || strings.ContainsRune(key, 0) {
		return ErrKey
	}
	return nil
}

// Set stores value under key. The value is converted now (see ErrValue
// for what is refused); the session is written when the response starts.
// Setting a value on a new session creates it. It returns ErrKey,
// ErrValue, or ErrSaved after the session was saved.
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
	if s.saved {
		return ErrSaved
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
// returns ErrKey for a key the session can never hold, or ErrSaved.
func (s *Session) Delete(key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.saved {
		return ErrSaved
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
// side started), so neither the Go nor the Node side finds it again. Values set afterwards in this request are not stored. It
// returns ErrSaved once the session was saved.
func (s *Session) Destroy() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.saved {
		return ErrSaved
	}
	s.destroyed = true
	return nil
}

func (s *Session) modified() bool { return len(s.changed) > 0 || len(s.removed) > 0 }

// ---- reading the stored cookie ----

func (c *cookieData) fromBSON(raw bson.Raw) {
	c.present = true
	c.httpOnly = false
	num := func(k string) *float64 {
		v := raw.Lookup(k)
		switch v.Type {
		case bson.TypeDouble, bson.TypeInt32, bson.TypeInt64:
			f, _ := fromBSON(v)
			x := f.(float64)
			return &x
		}
		return nil
	}
	str := func(k string) string {
		if s, ok := raw.Lookup(k).StringValueOK(); ok {
			return s
		}
		return ""
	}
	truthy := func(k string) bool {
		b, ok := raw.Lookup(k).BooleanOK()
		return ok && b
	}
	c.originalMaxAge = num("originalMaxAge")
	c.maxAge = num("maxAge")
	switch v := raw.Lookup("expires"); v.Type {
	case bson.TypeDateTime:
		t := time.UnixMilli(v.DateTime()).UTC()
		c.expires = &t
	case bson.TypeString:
		if t, err := time.Parse(time.RFC3339Nano, v.StringValue()); err == nil {
			c.expires = &t
		}
	}
	c.path = str("path")
	c.domain = str("domain")
	c.secure = truthy("secure")
	c.httpOnly = truthy("httpOnly")
	c.sameSite = str("sameSite")
	if truthy("sameSite") {
		c.sameSite = "strict"
	}
	c.partitioned = truthy("partitioned")
	c.priority = str("priority")
}

func (c *cookieData) fromMap(m map[string]any) {
	c.present = true
	num := func(k string) *float64 {
		if f, ok := m[k].(float64); ok {
			return &f
		}
		return nil
	}
	str := func(k string) string {
		s, _ := m[k].(string)
		return s
	}
	truthy := func(k string) bool {
		b, _ := m[k].(bool)
		return b
	}
	c.originalMaxAge = num("originalMaxAge")
	c.maxAge = num("maxAge")
	if s, ok := m["expires"].(string); ok {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			t = t.UTC()
			c.expires = &t
		}
	}
	c.path = str("path")
	c.domain = str("domain")
	c.secure = truthy("secure")
	c.httpOnly = truthy("httpOnly")
	c.sameSite = str("sameSite")
	if truthy("sameSite") {
		c.sameSite = "strict"
	}
	c.partitioned = truthy("partitioned")
	c.priority = str("priority")
}

// newCookie is the cookie of a session the Go side starts, as the Node
// middleware would create it from its options.
func (m *Manager) newCookie(now time.Time) cookieData {
	c := cookieData{present: true, path: m.ck.path, domain: m.ck.domain, secure: m.ck.secure,
		httpOnly: m.ck.httpOnly, sameSite: m.ck.sameSite}
	if m.ck.kind == schemeKoa {
		ma := float64(m.ck.maxAge.Milliseconds())
		c.maxAge = &ma
		return c
	}
	if m.ck.maxAge > 0 {
		oma := float64(m.ck.maxAge.Milliseconds())
		c.originalMaxAge = &oma
		t := now.Add(m.ck.maxAge).Truncate(time.Millisecond).UTC()
		c.expires = &t
	}
	return c
}

// expressCookieBSON is express-session's Cookie#toJSON as the Node driver
// stores it (undefined becomes null), in its key order.
func (c *cookieData) expressBSON() bson.D {
	nullIf := func(ok bool, v any) any {
		if !ok {
			return nil
		}
		return v
	}
	var oma, exp any
	if c.originalMaxAge != nil {
		oma = toBSON(*c.originalMaxAge)
	}
	if c.expires != nil {
		exp = bson.NewDateTimeFromTime(*c.expires)
	}
	return bson.D{
		{Key: "originalMaxAge", Value: oma},
		{Key: "partitioned", Value: nullIf(c.partitioned, true)},
		{Key: "priority", Value: nullIf(c.priority != "", c.priority)},
		{Key: "expires", Value: exp},
		{Key: "secure", Value: nullIf(c.secure, true)},
		{Key: "httpOnly", Value: c.httpOnly},
		{Key: "domain", Value: nullIf(c.domain != "", c.domain)},
		{Key: "path", Value: c.path},
		{Key: "sameSite", Value: nullIf(c.sameSite != "", c.sameSite)},
	}
}

// expressJSON is JSON.stringify of express-session's Cookie#toJSON
// (undefined members are left out).
func (c *cookieData) expressJSON() []jsonMember {
	var ms []jsonMember
	add := func(k string, v any) {
		ms = append(ms, jsonMember{key: k, raw: appendJSON(nil, v)})
	}
	if c.originalMaxAge != nil {
		add("originalMaxAge", *c.originalMaxAge)
	} else {
		add("originalMaxAge", nil)
	}
	if c.partitioned {
		add("partitioned", true)
	}
	if c.priority != "" {
		add("priority", c.priority)
	}
	if c.expires != nil {
		add("expires", *c.expires)
	} else {
		add("expires", nil)
	}
	if c.secure {
		add("secure", true)
	}
	add("httpOnly", c.httpOnly)
	if c.domain != "" {
		add("domain", c.domain)
	}
	add("path", c.path)
	if c.sameSite != "" {
		add("sameSite", c.sameSite)
	}
	return ms
}

// koaBSON is koa-generic-session's stored cookie: its defaults
// {httpOnly, path, overwrite, signed, maxAge} and the options given.
func (c *cookieData) koaBSON() bson.D {
	d := bson.D{
		{Key: "httpOnly", Value: c.httpOnly},
		{Key: "path", Value: c.path},
		{Key: "overwrite", Value: true},
		{Key: "signed", Value: true},
	}
	if c.maxAge != nil {
		d = append(d, bson.E{Key: "maxAge", Value: toBSON(*c.maxAge)})
	}
	if c.domain != "" {
		d = append(d, bson.E{Key: "domain", Value: c.domain})
	}
	if c.secure {
		d = append(d, bson.E{Key: "secure", Value: true})
	}
	if c.sameSite != "" {
		d = append(d, bson.E{Key: "sameSite", Value: c.sameSite})
	}
	return d
}

// jsonValue returns the canonical value of a raw JSON member, for JSON
// layouts.
func jsonValue(raw json.RawMessage) (any, error) { return fromJSON(raw) }
