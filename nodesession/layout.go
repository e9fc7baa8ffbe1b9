package nodesession

import (
	"errors"
	"strings"
	"time"
)

// Layout is how the Node store lays out its documents:
// ConnectMongoDBSession, ConnectMongo or KoaGenericSession. It is
// implemented only by this package.
type Layout interface {
	layoutSpec() (layoutSpec, error)
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

const (
	layoutCMS = iota + 1
	layoutCM
	layoutKoa
)

const defaultLifetime = 14 * 24 * time.Hour

type layoutSpec struct {
	kind        int
	idField     string
	expiresKey  string
	prefix      string
	transformID func(string) string
	stringify   bool
	lifetime    time.Duration
	touchAfter  time.Duration
	timestamps  bool
	crypto      *WebCrypto
}

func checkField(name, v string) error {
	if v == "" || strings.HasPrefix(v, "$") || strings.Contains(v, ".") || v == "session" {
		return errors.New(name + `: must be a plain top-level field name (no "." or "$", not "session")`)
	}
	return nil
}

func cmsFields(prefix, id, exp string, life time.Duration) (string, string, time.Duration, error) {
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
		return "", "", 0, err
	}
	if err := checkField(prefix+".ExpiresKey", exp); err != nil {
		return "", "", 0, err
	}
	if id == exp {
		return "", "", 0, errors.New(prefix + ".ExpiresKey: must differ from IDField")
	}
	if life < 0 {
		return "", "", 0, errors.New(prefix + ".Expires: must not be negative")
	}
	return id, exp, life, nil
}

func (l ConnectMongoDBSession) layoutSpec() (layoutSpec, error) {
	id, exp, life, err := cmsFields("ConnectMongoDBSession", l.IDField, l.ExpiresKey, l.Expires)
	return layoutSpec{kind: layoutCMS, idField: id, expiresKey: exp, lifetime: life}, err
}

func (l KoaGenericSession) layoutSpec() (layoutSpec, error) {
	id, exp, life, err := cmsFields("KoaGenericSession", l.IDField, l.ExpiresKey, l.Expires)
	p := l.Prefix
	if p == "" {
		p = "koa:sess:"
	}
	return layoutSpec{kind: layoutKoa, idField: id, expiresKey: exp, lifetime: life, prefix: p}, err
}

func (l ConnectMongo) layoutSpec() (layoutSpec, error) {
	sp := layoutSpec{kind: layoutCM, idField: "_id", expiresKey: "expires", stringify: !l.DisableStringify,
		lifetime: l.TTL, transformID: l.TransformID, touchAfter: l.TouchAfter, timestamps: l.Timestamps, crypto: l.Crypto}
	if sp.lifetime == 0 {
		sp.lifetime = defaultLifetime
	}
	if l.TTL < 0 {
		return sp, errors.New("ConnectMongo.TTL: must not be negative")
	}
	if l.TouchAfter < 0 {
		return sp, errors.New("ConnectMongo.TouchAfter: must not be negative")
	}
	return sp, nil
}

// storageID is the stored id of sid.
func (l *layoutSpec) storageID(sid string) string {
	switch {
	case l.prefix != "":
		return l.prefix + sid
	case l.transformID != nil:
		return l.transformID(sid)
	}
	return sid
}
