package nodesession

import (
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// The cookie object a Node middleware stores with a session
// (session.cookie): read from either stored form, written in the Node
// formats, and moved on writes as the middleware moves it.

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

// ---- per scheme ----

// newCookie is express-session's new Cookie(options): originalMaxAge and
// expires from maxAge, or null for a browser-session cookie.
func (e *expressScheme) newCookie(now time.Time) cookieData {
	c := cookieData{present: true, path: e.path, domain: e.domain, secure: e.secure, httpOnly: e.httpOnly, sameSite: e.sameSite}
	if e.maxAge > 0 {
		oma := float64(e.maxAge.Milliseconds())
		c.originalMaxAge = &oma
		t := now.Add(e.maxAge).Truncate(time.Millisecond).UTC()
		c.expires = &t
	}
	return c
}

// usable: express-session's createSession throws on a stored session
// without a cookie, so the Node app cannot use it either.
func (e *expressScheme) usable(c *cookieData) bool { return c.present }

// touch is express-session's cookie touch before a save: expires = now +
// originalMaxAge, or null.
func (e *expressScheme) touch(c *cookieData, now time.Time) {
	if c.originalMaxAge == nil {
		c.expires = nil
		return
	}
	t := now.Add(time.Duration(*c.originalMaxAge) * time.Millisecond).Truncate(time.Millisecond).UTC()
	c.expires = &t
}

func (e *expressScheme) storedBSON(c *cookieData) bson.D { return c.expressBSON() }

func (e *expressScheme) touchedBSON(c *cookieData) bson.D {
	if !c.present {
		return nil
	}
	var exp any
	if c.expires != nil {
		exp = bson.NewDateTimeFromTime(*c.expires)
	}
	return bson.D{{Key: "session.cookie.expires", Value: exp}}
}

// newCookie is koa-generic-session's cookie from its options.
func (k *koaScheme) newCookie(time.Time) cookieData {
	ma := float64(k.maxAge.Milliseconds())
	return cookieData{present: true, path: k.path, domain: k.domain, secure: k.secure, httpOnly: k.httpOnly,
		sameSite: k.sameSite, maxAge: &ma}
}

func (k *koaScheme) usable(*cookieData) bool { return true }

// touch: koa-generic-session's stored cookie has no expiry; the cookie it
// sends expires cookie.maxAge from the write (see written).
func (k *koaScheme) touch(*cookieData, time.Time) {}

func (k *koaScheme) storedBSON(c *cookieData) bson.D { return c.koaBSON() }

func (k *koaScheme) touchedBSON(*cookieData) bson.D { return nil }
