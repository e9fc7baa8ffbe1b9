package nodesession

import (
	"net/http"
	"strings"
	"time"
)

// Issuing and clearing the session cookie, as each Node middleware does.

// cookieAttrs are the attributes of an issued cookie.
type cookieAttrs struct {
	expires     *time.Time
	path        string
	domain      string
	secure      bool
	httpOnly    bool
	sameSite    string
	partitioned bool
	priority    string
}

// configAttrs are the attributes of the scheme's options, for a cookie
// with no stored settings.
func (c *cookieConfig) configAttrs() cookieAttrs {
	return cookieAttrs{path: c.path, domain: c.domain, secure: c.secure, httpOnly: c.httpOnly, sameSite: c.sameSite}
}

// ---- express-session ----

// storedAttrs are the attributes express-session sets from the stored
// cookie.
func storedAttrs(c *cookieData) cookieAttrs {
	p := c.path
	if p == "" {
		p = "/"
	}
	return cookieAttrs{expires: c.expires, path: p, domain: c.domain, secure: c.secure, httpOnly: c.httpOnly,
		sameSite: c.sameSite, partitioned: c.partitioned, priority: c.priority}
}

// written: express-session sets the cookie after a save when the cookie
// has an expiry (a rolling touch), for a new session, and (here) when the
// cookie verified with an older secret.
func (e *expressScheme) written(h http.Header, sid string, c *cookieData, keyIndex int, created bool, _ time.Time) {
	if c.expires == nil && keyIndex == 0 && !created {
		return
	}
	e.set(h, sid, storedAttrs(c))
}

func (e *expressScheme) resigned(h http.Header, sid string, c *cookieData) {
	e.set(h, sid, storedAttrs(c))
}

// cleared sends what Express's res.clearCookie(name, attrs) sends: an
// empty value that expired at the epoch, with the domain and path the
// cookie was issued with (a browser deletes only the cookie of the same
// name, domain and path): the stored cookie's, else the scheme's.
func (e *expressScheme) cleared(h http.Header, c *cookieData) {
	a := e.configAttrs()
	if c.present {
		a = storedAttrs(c)
	}
	epoch := time.Unix(0, 0)
	a.expires, a.priority = &epoch, ""
	e.add(h, "", a)
}

// set adds express-session's Set-Cookie for sid, signed with the first
// secret.
func (e *expressScheme) set(h http.Header, sid string, a cookieAttrs) {
	v := "s:" + sid + "." + expressSig(e.secrets[0], sid)
	e.add(h, encodeURIComponent(v), a)
}

// add writes the header as the cookie module 0.7's serialize does.
func (e *expressScheme) add(h http.Header, value string, a cookieAttrs) {
	var b strings.Builder
	b.WriteString(e.name + "=" + value)
	if a.domain != "" {
		b.WriteString("; Domain=" + a.domain)
	}
	if a.path != "" {
		b.WriteString("; Path=" + a.path)
	}
	if a.expires != nil {
		b.WriteString("; Expires=" + a.expires.UTC().Format(http.TimeFormat))
	}
	if a.httpOnly {
		b.WriteString("; HttpOnly")
	}
	if a.secure {
		b.WriteString("; Secure")
	}
	if a.partitioned {
		b.WriteString("; Partitioned")
	}
	switch strings.ToLower(a.priority) {
	case "low":
		b.WriteString("; Priority=Low")
	case "medium":
		b.WriteString("; Priority=Medium")
	case "high":
		b.WriteString("; Priority=High")
	}
	switch strings.ToLower(a.sameSite) {
	case "true", "strict":
		b.WriteString("; SameSite=Strict")
	case "lax":
		b.WriteString("; SameSite=Lax")
	case "none":
		b.WriteString("; SameSite=None")
	}
	h.Add("Set-Cookie", b.String())
}

// ---- Koa (pillarjs/cookies, koa-generic-session) ----

// written: koa-generic-session sets the cookie after every save, expiring
// cookie.maxAge from now, with the stored cookie's options.
func (k *koaScheme) written(h http.Header, sid string, c *cookieData, _ int, _ bool, now time.Time) {
	a := cookieAttrs{path: c.path, domain: c.domain, secure: c.secure, httpOnly: c.httpOnly, sameSite: c.sameSite}
	if !c.present {
		a.path, a.httpOnly = "/", true
	}
	if c.maxAge != nil && *c.maxAge > 0 {
		t := now.Add(time.Duration(*c.maxAge) * time.Millisecond)
		a.expires = &t
	}
	k.set(h, sid, a, false)
}

// resigned re-issues only the .sig, signed with the first key, as Koa's
// cookies.get does for a signature made with an older key.
func (k *koaScheme) resigned(h http.Header, sid string, _ *cookieData) {
	k.set(h, sid, cookieAttrs{path: "/", httpOnly: true}, true)
}

// cleared clears the cookie and its .sig with the domain and path it was
// issued with. (koa-generic-session's own reset sends neither; sending
// them clears the cookie in more browsers, never in fewer.)
func (k *koaScheme) cleared(h http.Header, c *cookieData) {
	a := k.configAttrs()
	if c.present {
		a = storedAttrs(c)
	}
	epoch := time.Unix(0, 0)
	a.expires, a.partitioned, a.priority = &epoch, false, ""
	k.set(h, "", a, false)
}

// set adds pillarjs/cookies' pair of Set-Cookie headers (the value and its
// .sig) with the same attributes; sigOnly leaves the value out.
func (k *koaScheme) set(h http.Header, value string, a cookieAttrs, sigOnly bool) {
	var b strings.Builder
	if a.path != "" {
		b.WriteString("; path=" + a.path)
	}
	if a.expires != nil {
		b.WriteString("; expires=" + a.expires.UTC().Format(http.TimeFormat))
	}
	if a.domain != "" {
		b.WriteString("; domain=" + a.domain)
	}
	if a.sameSite != "" {
		s := strings.ToLower(a.sameSite)
		if s == "true" {
			s = "strict"
		}
		b.WriteString("; samesite=" + s)
	}
	if a.secure {
		b.WriteString("; secure")
	}
	if a.httpOnly {
		b.WriteString("; httponly")
	}
	attrs := b.String()
	data := k.name + "=" + value
	if !sigOnly {
		h.Add("Set-Cookie", data+attrs)
	}
	h.Add("Set-Cookie", k.name+".sig="+keygripSign(k.secrets[0], data)+attrs)
}
