package nodesession

import (
	"context"
	"errors"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Layout is how the Node store lays out its documents:
// ConnectMongoDBSession, ConnectMongo or KoaGenericSession. It is
// implemented only by this package.
type Layout interface {
	layout(sc scheme) (*layout, error)
}

// ConnectMongoDBSession is connect-mongodb-session 5's document:
//
//	{ _id: sid, session: {cookie: {...}, ...values}, expires: Date }
//
// with the session as a BSON document (dates as BSON dates, undefined as
// null). A read treats a session whose expires has passed as gone and
// deletes it, as the Node store's get does; a missing or null expires never
// expires. A write sets expires to cookie.expires, or now + Expires when the
// cookie has none, as the Node store's set does.
type ConnectMongoDBSession struct {
	// IDField is the store's idField option. Optional. Default: "_id".
	IDField string

	// ExpiresKey is the store's expiresKey option. Optional. Default:
	// "expires". (The Node store's get reads the field "expires" whatever
	// this says; the Go side checks the field named here.)
	ExpiresKey string

	// Expires is the store's expires option, the lifetime of a session
	// whose cookie has no expiry. Optional. Default: 14 days.
	Expires time.Duration
}

// ConnectMongo is connect-mongo 6's document:
//
//	{ _id: transformId(sid), session: JSON string | document, expires: Date,
//	  lastModified?: Date, createdAt?: Date, updatedAt?: Date }
//
// A read finds the session only while expires is missing or in the future,
// as the Node store's query does: a null expires, or one that is not a
// date, is not found. A write sets expires to cookie.expires or
// now + TTL. A request that loads a session without changing it moves
// expires forward as the Node store's touch does (at most once per
// TouchAfter when that is set).
type ConnectMongo struct {
	// DisableStringify is connect-mongo's stringify: false: the session is
	// stored as a BSON document instead of a JSON string. Optional.
	// Default: false (stringify: true, connect-mongo's default).
	DisableStringify bool

	// TTL is the store's ttl option (seconds there): the lifetime of a
	// session whose cookie has no expiry. Optional. Default: 14 days.
	TTL time.Duration

	// TransformID is the store's transformId option. Optional. Default:
	// the session id itself.
	TransformID func(sid string) string

	// TouchAfter is the store's touchAfter option. Optional. Default: 0.
	TouchAfter time.Duration

	// Timestamps is the store's timestamps option (createdAt, updatedAt).
	// Optional. Default: false.
	Timestamps bool

	// Crypto is the store's cryptoAdapter when it is
	// createWebCryptoAdapter(...). Optional. Default: no encryption.
	// Sessions encrypted with the legacy crypto option (kruptein, any of
	// its stored forms) are refused with ErrLegacyEncryption, with or
	// without Crypto and whatever DisableStringify says.
	Crypto *WebCrypto
}

// KoaGenericSession is koa-generic-session over connect-mongodb-session's
// store wrapped in promises (the layout koa-mongodb-session uses):
//
//	{ _id: "koa:sess:" + sid, session: {cookie: {httpOnly, path, overwrite,
//	  signed, maxAge}, ...values}, expires: Date }
//
// Expiry is connect-mongodb-session's (see ConnectMongoDBSession). Pair it
// with KoaCookie.
type KoaGenericSession struct {
	// Prefix is koa-generic-session's prefix option. Optional. Default:
	// "koa:sess:".
	Prefix string

	// IDField, ExpiresKey and Expires are the wrapped
	// connect-mongodb-session store's options, with its defaults.
	IDField    string
	ExpiresKey string
	Expires    time.Duration
}

const defaultLifetime = 14 * 24 * time.Hour

// layout is a validated Layout: where the Node store keeps a session, by
// which rules it expires, and how the session field is encoded.
type layout struct {
	idField    string
	expiresKey string
	lifetime   time.Duration // of a session whose cookie has no expiry
	storedID   func(sid string) string
	rules      storeRules
	codec      codec
}

// filter selects sid's document.
func (l *layout) filter(sid string) bson.D {
	return bson.D{{Key: l.idField, Value: l.storedID(sid)}}
}

// storeRules are a Node store's reading and writing rules beyond the
// session field: when a document counts as found, the bookkeeping fields
// of a write, and what a request that changed nothing writes.
type storeRules interface {
	// live reports whether a document whose expiry field is ev (Type 0
	// when missing) is found at now, and whether a read deletes it.
	live(ev bson.RawValue, now time.Time) (found, purge bool)
	// stamp adds the store's bookkeeping fields to a write; created is
	// true for a new document.
	stamp(w *write, now time.Time, created bool)
	// touch is the store's touch of a session loaded and not changed.
	touch(ctx context.Context, m *Manager, s *Session, now time.Time) error
}

// codec is how the session field is stored: as a BSON document, or as
// JSON text (connect-mongo's stringify, or encrypted).
type codec interface {
	// decode fills s's values and cookie from the stored session field.
	decode(s *Session, sv bson.RawValue) error
	// value is the session field of a document holding all of s: a new
	// session, or one moved to a new id.
	value(m *Manager, s *Session) (any, error)
	// update writes s's changes to its stored document at now. gone is
	// true when the document no longer exists (logged out elsewhere);
	// nothing is recreated. A write that would make the document too
	// large fails with mongosession.ErrTooLarge (see Manager.updateOne).
	update(ctx context.Context, m *Manager, s *Session, now time.Time) (gone bool, err error)
}

// write is one update of a session document.
type write struct {
	set, unset, setOnInsert, currentDate bson.D
}

func (w *write) doc() bson.D {
	d := bson.D{{Key: "$set", Value: w.set}}
	for _, op := range []struct {
		name string
		v    bson.D
	}{{"$unset", w.unset}, {"$setOnInsert", w.setOnInsert}, {"$currentDate", w.currentDate}} {
		if len(op.v) > 0 {
			d = append(d, bson.E{Key: op.name, Value: op.v})
		}
	}
	return d
}

func checkField(name, v string) error {
	if v == "" || strings.HasPrefix(v, "$") || strings.Contains(v, ".") || v == "session" {
		return errors.New(name + `: must be a plain top-level field name (no "." or "$", not "session")`)
	}
	return nil
}

// cmsLayout is connect-mongodb-session's layout with its options checked,
// for ConnectMongoDBSession and KoaGenericSession.
func cmsLayout(prefix, id, exp string, life time.Duration) (*layout, error) {
	if id == "" {
		id = "_id"
	}
	if exp == "" {
		exp = "expires"
	}
	if life == 0 {
		life = defaultLifetime
	}
	if err := checkField(prefix+".IDField", id); err != nil {
		return nil, err
	}
	if err := checkField(prefix+".ExpiresKey", exp); err != nil {
		return nil, err
	}
	if id == exp {
		return nil, errors.New(prefix + ".ExpiresKey: must differ from IDField")
	}
	if life < 0 {
		return nil, errors.New(prefix + ".Expires: must not be negative")
	}
	return &layout{idField: id, expiresKey: exp, lifetime: life, storedID: func(sid string) string { return sid },
		rules: mongoDBSessionRules{}, codec: documentCodec{}}, nil
}

func expressOnly(name string, sc scheme) error {
	if _, ok := sc.(*expressScheme); !ok {
		return errors.New(name + " is an Express store: pair it with ExpressCookie (KoaCookie pairs with KoaGenericSession)")
	}
	return nil
}

func (l ConnectMongoDBSession) layout(sc scheme) (*layout, error) {
	if err := expressOnly("ConnectMongoDBSession", sc); err != nil {
		return nil, err
	}
	return cmsLayout("ConnectMongoDBSession", l.IDField, l.ExpiresKey, l.Expires)
}

func (l KoaGenericSession) layout(sc scheme) (*layout, error) {
	if _, ok := sc.(*koaScheme); !ok {
		return nil, errors.New("KoaGenericSession pairs with KoaCookie, not ExpressCookie")
	}
	ly, err := cmsLayout("KoaGenericSession", l.IDField, l.ExpiresKey, l.Expires)
	if err != nil {
		return nil, err
	}
	p := l.Prefix
	if p == "" {
		p = "koa:sess:"
	}
	ly.storedID = func(sid string) string { return p + sid }
	return ly, nil
}

func (l ConnectMongo) layout(sc scheme) (*layout, error) {
	if err := expressOnly("ConnectMongo", sc); err != nil {
		return nil, err
	}
	if l.TTL < 0 {
		return nil, errors.New("ConnectMongo.TTL: must not be negative")
	}
	if l.TouchAfter < 0 {
		return nil, errors.New("ConnectMongo.TouchAfter: must not be negative")
	}
	ly := &layout{idField: "_id", expiresKey: "expires", lifetime: l.TTL, storedID: l.TransformID,
		rules: connectMongoRules{touchAfter: l.TouchAfter, timestamps: l.Timestamps}}
	if ly.lifetime == 0 {
		ly.lifetime = defaultLifetime
	}
	if ly.storedID == nil {
		ly.storedID = func(sid string) string { return sid }
	}
	switch {
	case l.Crypto != nil:
		c, err := l.Crypto.build()
		if err != nil {
			return nil, err
		}
		ly.codec = jsonCodec{cipher: c}
	case l.DisableStringify:
		ly.codec = documentCodec{legacyStrings: true}
	default:
		ly.codec = jsonCodec{}
	}
	return ly, nil
}

// ---- connect-mongodb-session (and Koa over it) ----

// mongoDBSessionRules are connect-mongodb-session's: its get finds a
// session whose expires is missing, null or in the future, and destroys
// one whose expires has passed; it has no touch.
type mongoDBSessionRules struct{}

func (mongoDBSessionRules) live(ev bson.RawValue, now time.Time) (found, purge bool) {
	switch ev.Type {
	case 0, bson.TypeNull, bson.TypeUndefined:
		return true, false // !doc.expires: never expires
	case bson.TypeDateTime:
		if now.Before(time.UnixMilli(ev.DateTime())) {
			return true, false
		}
		return false, true
	}
	return false, false
}

func (mongoDBSessionRules) stamp(*write, time.Time, bool) {}

func (mongoDBSessionRules) touch(context.Context, *Manager, *Session, time.Time) error { return nil }

// ---- connect-mongo ----

// connectMongoRules are connect-mongo's: its get filter {$or: [{expires:
// {$exists: false}}, {expires: {$gt: now}}]} finds a session whose expires
// is missing or in the future (a null is neither); writes set
// lastModified with touchAfter and createdAt/updatedAt with timestamps.
type connectMongoRules struct {
	touchAfter time.Duration
	timestamps bool
}

func (connectMongoRules) live(ev bson.RawValue, now time.Time) (found, purge bool) {
	switch ev.Type {
	case 0:
		return true, false
	case bson.TypeDateTime:
		return now.Before(time.UnixMilli(ev.DateTime())), false
	}
	return false, false
}

func (r connectMongoRules) stamp(w *write, now time.Time, created bool) {
	if r.touchAfter > 0 {
		w.set = append(w.set, bson.E{Key: "lastModified", Value: bson.NewDateTimeFromTime(now)})
	}
	if r.timestamps {
		if created {
			w.setOnInsert = append(w.setOnInsert, bson.E{Key: "createdAt", Value: bson.NewDateTimeFromTime(now)})
		}
		w.currentDate = append(w.currentDate, bson.E{Key: "updatedAt", Value: true})
	}
}

// touch is connect-mongo's touch, which express-session calls for every
// request that loads a session without changing it: expires moves to the
// touched cookie's expiry (now + originalMaxAge) or now + ttl; with
// touchAfter, at most once per that interval.
func (r connectMongoRules) touch(ctx context.Context, m *Manager, s *Session, now time.Time) error {
	var w write
	if r.touchAfter > 0 && s.lastModified != nil {
		if now.Sub(*s.lastModified) < r.touchAfter {
			return nil
		}
		w.set = append(w.set, bson.E{Key: "lastModified", Value: bson.NewDateTimeFromTime(now)})
	}
	exp := now.Add(m.ly.lifetime)
	if s.cookie.originalMaxAge != nil {
		exp = now.Add(time.Duration(*s.cookie.originalMaxAge) * time.Millisecond)
	}
	w.set = append(w.set, bson.E{Key: "expires", Value: bson.NewDateTimeFromTime(exp)})
	if r.timestamps {
		w.currentDate = append(w.currentDate, bson.E{Key: "updatedAt", Value: true})
	}
	_, err := m.updateOne(ctx, "nodesession: touch", m.ly.filter(s.sid), &w, s.loaded, false)
	return err
}
