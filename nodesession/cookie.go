package nodesession

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// CookieScheme is how the Node app names and signs its session cookie:
// ExpressCookie or KoaCookie. It is implemented only by this package.
type CookieScheme interface {
	scheme() (scheme, error)
}

// ExpressCookie is express-session's cookie: name=encodeURIComponent("s:" +
// sid + "." + HMAC-SHA256 signature), signed with cookie-signature.
//
// Reading tries each secret in order, in constant time, as express-session
// does; cookies are issued signed with Secrets[0]. The other fields describe
// the cookie of a session the Go side starts (express-session's cookie
// option); sessions the Node app started keep the cookie stored with them.
type ExpressCookie struct {
	// Name is the cookie's name. Optional. Default: "connect.sid".
	Name string

	// Secrets are express-session's secret option, newest first. Required:
	// at least one, none empty.
	Secrets []string

	// MaxAge is cookie.maxAge, the lifetime of a session the Go side starts
	// (stored as cookie.originalMaxAge). Optional. Default: 0, which is
	// express-session's null: a browser-session cookie with no Expires,
	// whose stored session lives for the layout's fallback lifetime.
	MaxAge time.Duration

	// Path is cookie.path. Optional. Default: "/".
	Path string

	// Domain is cookie.domain. Optional. Default: none.
	Domain string

	// Secure is cookie.secure. Optional. Default: false.
	Secure bool

	// NotHTTPOnly is cookie.httpOnly: false. Optional. Default: false, so
	// the cookie is HttpOnly as express-session's default.
	NotHTTPOnly bool

	// SameSite is cookie.sameSite: "", "lax", "strict" or "none".
	// Optional. Default: none.
	SameSite string
}

// KoaCookie is Koa's signed cookie (pillarjs/cookies with keygrip):
// name=sid plus name.sig = base64url(HMAC-SHA1(key, "name=sid")), as
// koa-generic-session sets it.
//
// Reading tries each key in order, in constant time, as keygrip does; a
// cookie verified with a key other than Keys[0] gets its .sig re-issued
// with Keys[0], as Koa does. The other fields describe the cookie of a
// session the Go side starts (koa-generic-session's cookie option).
type KoaCookie struct {
	// Name is koa-generic-session's key option. Optional. Default: "koa.sid".
	Name string

	// Keys are the Koa app's app.keys, newest first. Required: at least
	// one, none empty.
	Keys []string

	// MaxAge is cookie.maxAge. Optional. Default: one day, as
	// koa-generic-session's default.
	MaxAge time.Duration

	// Path is cookie.path. Optional. Default: "/".
	Path string

	// Domain is cookie.domain. Optional. Default: none.
	Domain string

	// Secure is cookie.secure. Optional. Default: false.
	Secure bool

	// NotHTTPOnly is cookie.httpOnly: false. Optional. Default: false.
	NotHTTPOnly bool

	// SameSite is cookie.sameSite: "", "lax", "strict" or "none".
	// Optional. Default: none.
	SameSite string
}

// scheme is a validated CookieScheme: how the Node middleware reads,
// issues and clears its cookie, and the cookie object it stores with a
// session (see setcookie.go and storedcookie.go).
type scheme interface {
	// readSID returns the verified session id from the request's cookies
	// and the index of the secret or key that verified it. ok is false
	// when there is no cookie or it does not verify.
	readSID(r *http.Request) (sid string, keyIndex int, ok bool)

	// newCookie is the stored cookie of a session the Go side starts, as
	// the Node middleware creates it from its options.
	newCookie(now time.Time) cookieData
	// usable reports whether the Node middleware can use a stored session
	// with this cookie (express-session throws on one without).
	usable(c *cookieData) bool
	// touch moves the stored cookie's expiry for a write, as the Node
	// middleware does before it saves.
	touch(c *cookieData, now time.Time)
	// storedBSON is the cookie as a document layout stores it in a new
	// document; touchedBSON the $set entries that carry a touch to a
	// stored one.
	storedBSON(c *cookieData) bson.D
	touchedBSON(c *cookieData) bson.D

	// written issues the cookie after a write, when the Node middleware
	// would: created is true for a session stored under a new id.
	written(h http.Header, sid string, c *cookieData, keyIndex int, created bool, now time.Time)
	// resigned re-issues the cookie of an unchanged session whose cookie
	// verified with an older secret or key.
	resigned(h http.Header, sid string, c *cookieData)
	// cleared clears the cookie after a logout.
	cleared(h http.Header, c *cookieData)
}

// cookieConfig is what both schemes are configured with.
type cookieConfig struct {
	name     string
	secrets  [][]byte
	maxAge   time.Duration
	path     string
	domain   string
	secure   bool
	httpOnly bool
	sameSite string
}

// expressScheme is a validated ExpressCookie.
type expressScheme struct{ cookieConfig }

// koaScheme is a validated KoaCookie.
type koaScheme struct{ cookieConfig }

func checkSecrets(field string, s []string) ([][]byte, error) {
	if len(s) == 0 {
		return nil, errors.New(field + ": at least one is required")
	}
	out := make([][]byte, len(s))
	for i, v := range s {
		if v == "" {
			return nil, errors.New(field + ": must not be empty")
		}
		out[i] = []byte(v)
	}
	return out, nil
}

func checkSameSite(field, v string) error {
	switch strings.ToLower(v) {
	case "", "lax", "strict", "none":
		return nil
	}
	return errors.New(field + `: must be "", "lax", "strict" or "none"`)
}

func (c ExpressCookie) scheme() (scheme, error) {
	sp := cookieConfig{name: c.Name, maxAge: c.MaxAge, path: c.Path,
		domain: c.Domain, secure: c.Secure, httpOnly: !c.NotHTTPOnly, sameSite: strings.ToLower(c.SameSite)}
	if sp.name == "" {
		sp.name = "connect.sid"
	}
	if sp.path == "" {
		sp.path = "/"
	}
	var err error
	if sp.secrets, err = checkSecrets("ExpressCookie.Secrets", c.Secrets); err != nil {
		return nil, err
	}
	if c.MaxAge < 0 {
		return nil, errors.New("ExpressCookie.MaxAge: must not be negative")
	}
	if !validCookieName(sp.name) {
		return nil, errors.New("ExpressCookie.Name: not a valid cookie name")
	}
	if err := checkSameSite("ExpressCookie.SameSite", c.SameSite); err != nil {
		return nil, err
	}
	return &expressScheme{sp}, nil
}

func (c KoaCookie) scheme() (scheme, error) {
	sp := cookieConfig{name: c.Name, maxAge: c.MaxAge, path: c.Path,
		domain: c.Domain, secure: c.Secure, httpOnly: !c.NotHTTPOnly, sameSite: strings.ToLower(c.SameSite)}
	if sp.name == "" {
		sp.name = "koa.sid"
	}
	if sp.path == "" {
		sp.path = "/"
	}
	if sp.maxAge == 0 {
		sp.maxAge = 24 * time.Hour
	}
	var err error
	if sp.secrets, err = checkSecrets("KoaCookie.Keys", c.Keys); err != nil {
		return nil, err
	}
	if c.MaxAge < 0 {
		return nil, errors.New("KoaCookie.MaxAge: must not be negative")
	}
	if !validCookieName(sp.name) {
		return nil, errors.New("KoaCookie.Name: not a valid cookie name")
	}
	if err := checkSameSite("KoaCookie.SameSite", c.SameSite); err != nil {
		return nil, err
	}
	return &koaScheme{sp}, nil
}

func validCookieName(n string) bool {
	if n == "" {
		return false
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if c <= 0x20 || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return false
		}
	}
	return true
}

// cookieHeader joins the request's Cookie headers as Node's http module
// does ("; ").
func cookieHeader(r *http.Request) string {
	return strings.Join(r.Header.Values("Cookie"), "; ")
}

func (c *expressScheme) readSID(r *http.Request) (sid string, keyIndex int, ok bool) {
	raw, found := expressParse(cookieHeader(r), c.name)
	if !found || !strings.HasPrefix(raw, "s:") {
		return "", 0, false
	}
	return expressUnsign(raw[2:], c.secrets)
}

func (c *koaScheme) readSID(r *http.Request) (sid string, keyIndex int, ok bool) {
	h := cookieHeader(r)
	val, found := koaGet(h, c.name)
	if !found || val == "" {
		return "", 0, false
	}
	sig, found := koaGet(h, c.name+".sig")
	if !found || sig == "" {
		return "", 0, false
	}
	data := c.name + "=" + val
	for i, k := range c.secrets {
		if hmac.Equal([]byte(sig), []byte(keygripSign(k, data))) {
			return val, i, true
		}
	}
	return "", 0, false
}

// expressParse finds name in a Cookie header as the cookie module 0.7 used
// by express-session does: the first occurrence wins, spaces and tabs
// around names and values are trimmed, one pair of surrounding quotes is
// removed, and the value is percent-decoded only if it holds a '%' (left
// as is when that fails).
func expressParse(str, name string) (string, bool) {
	n := len(str)
	if n < 2 {
		return "", false
	}
	index := 0
	for index < n {
		eq := strings.IndexByte(str[index:], '=')
		if eq < 0 {
			break
		}
		eq += index
		end := strings.IndexByte(str[index:], ';')
		if end < 0 {
			end = n
		} else {
			end += index
			if eq > end {
				index = strings.LastIndexByte(str[:eq], ';') + 1
				continue
			}
		}
		ks := skipSpace(str, index, eq)
		ke := backSpace(str, eq, ks)
		if str[ks:ke] == name {
			vs := skipSpace(str, eq+1, end)
			ve := backSpace(str, end, vs)
			if ve-vs >= 2 && str[vs] == '"' && str[ve-1] == '"' {
				vs++
				ve--
			} else if ve-vs == 1 && str[vs] == '"' {
				// JS: both checks see the same quote; slicing gives "".
				return "", true
			}
			return tryDecode(str[vs:ve]), true
		}
		index = end + 1
	}
	return "", false
}

func skipSpace(s string, i, max int) int {
	for ; i < max; i++ {
		if s[i] != ' ' && s[i] != '\t' {
			return i
		}
	}
	return max
}

func backSpace(s string, i, min int) int {
	for i > min {
		if s[i-1] != ' ' && s[i-1] != '\t' {
			return i
		}
		i--
	}
	return min
}

// tryDecode is decodeURIComponent when s holds a '%', and s unchanged when
// decoding fails (bad escape or invalid UTF-8), as the cookie module does.
func tryDecode(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	d, err := url.PathUnescape(s)
	if err != nil || !utf8.ValidString(d) {
		return s
	}
	return d
}

// expressUnsign is cookie-signature's unsign tried with each secret.
func expressUnsign(input string, secrets [][]byte) (string, int, bool) {
	dot := strings.LastIndexByte(input, '.')
	if dot < 0 {
		return "", 0, false
	}
	val := input[:dot]
	for i, s := range secrets {
		want := val + "." + expressSig(s, val)
		if len(want) == len(input) && hmac.Equal([]byte(want), []byte(input)) {
			return val, i, true
		}
	}
	return "", 0, false
}

func expressSig(secret []byte, val string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(val))
	return base64.RawStdEncoding.EncodeToString(m.Sum(nil))
}

func keygripSign(key []byte, data string) string {
	m := hmac.New(sha1.New, key)
	m.Write([]byte(data))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// koaGet finds name as pillarjs/cookies does, with the regular expression
// (?:^|;) *name=([^;]*): the leftmost match, spaces only after ';', no
// decoding, and a value starting with '"' loses its first and last bytes.
func koaGet(h, name string) (string, bool) {
	for start := 0; start <= len(h); {
		i := start
		for i < len(h) && h[i] == ' ' {
			i++
		}
		if strings.HasPrefix(h[i:], name+"=") {
			v := h[i+len(name)+1:]
			if j := strings.IndexByte(v, ';'); j >= 0 {
				v = v[:j]
			}
			if len(v) > 0 && v[0] == '"' {
				if len(v) < 2 {
					v = ""
				} else {
					v = v[1 : len(v)-1]
				}
			}
			return v, true
		}
		next := strings.IndexByte(h[start:], ';')
		if next < 0 {
			break
		}
		start += next + 1
	}
	return "", false
}

// encodeURIComponent escapes s as JavaScript's encodeURIComponent.
func encodeURIComponent(s string) string {
	const keep = "-_.!~*'()"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(keep, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		const hex = "0123456789ABCDEF"
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
