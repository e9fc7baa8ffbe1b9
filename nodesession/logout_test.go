package nodesession_test

import (
	"context"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mongosession/mongosession/internal/mongotest"
	"github.com/mongosession/mongosession/nodesession"
	"go.mongodb.org/mongo-driver/v2/bson"
)

// hostClient is a browser that resolves every host name to addr, so that
// cookies with a Domain attribute behave as on a real site.
func hostClient(addr string) (*http.Client, *cookiejar.Jar) {
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	return &http.Client{Jar: jar, Transport: tr, Timeout: 20 * time.Second}, jar
}

func getOK(t *testing.T, hc *http.Client, u string) *http.Response {
	t.Helper()
	res, err := hc.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("GET %s: %d", u, res.StatusCode)
	}
	return res
}

// TestLogoutClearsDomainCookie: a logout on Go clears the browser's cookie
// when it was issued with a Domain: with ExpressCookie.Domain for a session
// Go started, with the stored cookie.domain and path for one the Node app
// started. A clear without the Domain would leave the browser's cookie.
func TestLogoutClearsDomainCookie(t *testing.T) {
	t.Run("Go-started session, ExpressCookie.Domain", func(t *testing.T) {
		st := goStore(t, mongotest.Collection(t))
		m, err := nodesession.New(nodesession.Options{Store: st, Layout: nodesession.ConnectMongoDBSession{},
			Cookie: nodesession.ExpressCookie{Secrets: []string{"s"}, Domain: "example.test", MaxAge: time.Hour}})
		if err != nil {
			t.Fatal(err)
		}
		base := goServer(t, m)
		hc, jar := hostClient(strings.TrimPrefix(base, "http://"))
		site, _ := url.Parse("http://www.example.test/")
		getOK(t, hc, "http://www.example.test/login?user=alice")
		if len(jar.Cookies(site)) != 1 {
			t.Fatalf("login set no cookie: %v", jar.Cookies(site))
		}
		res := getOK(t, hc, "http://www.example.test/logout")
		if got := res.Header.Get("Set-Cookie"); !strings.Contains(got, "Domain=example.test") || !strings.Contains(got, "Path=/") {
			t.Errorf("logout Set-Cookie %q lacks the cookie's Domain and Path", got)
		}
		if cs := jar.Cookies(site); len(cs) != 0 {
			t.Errorf("the browser keeps %v after a logout", cs)
		}
	})
	t.Run("Koa, KoaCookie.Domain", func(t *testing.T) {
		st := goStore(t, mongotest.Collection(t))
		m, err := nodesession.New(nodesession.Options{Store: st, Layout: nodesession.KoaGenericSession{},
			Cookie: nodesession.KoaCookie{Keys: []string{"k"}, Domain: "example.test"}})
		if err != nil {
			t.Fatal(err)
		}
		base := goServer(t, m)
		hc, jar := hostClient(strings.TrimPrefix(base, "http://"))
		site, _ := url.Parse("http://www.example.test/")
		getOK(t, hc, "http://www.example.test/login?user=alice")
		if len(jar.Cookies(site)) != 2 {
			t.Fatalf("login did not set koa.sid and koa.sid.sig: %v", jar.Cookies(site))
		}
		getOK(t, hc, "http://www.example.test/logout")
		if cs := jar.Cookies(site); len(cs) != 0 {
			t.Errorf("the browser keeps %v after a logout", cs)
		}
	})
	t.Run("Node-started session, stored cookie.domain", func(t *testing.T) {
		st := goStore(t, mongotest.Collection(t))
		m, err := nodesession.New(nodesession.Options{Store: st, Layout: nodesession.ConnectMongoDBSession{},
			Cookie: nodesession.ExpressCookie{Secrets: []string{"s"}}})
		if err != nil {
			t.Fatal(err)
		}
		sid := "domaincookiedomaincookiedomainco"
		exp := time.Now().Add(time.Hour)
		err = insertDoc(t, st, bson.D{{Key: "_id", Value: sid}, {Key: "expires", Value: exp}, {Key: "session", Value: bson.D{
			{Key: "cookie", Value: bson.D{{Key: "originalMaxAge", Value: int32(3600000)}, {Key: "expires", Value: exp},
				{Key: "httpOnly", Value: true}, {Key: "domain", Value: "example.test"}, {Key: "path", Value: "/"}}},
			{Key: "user", Value: "alice"}}}})
		if err != nil {
			t.Fatal(err)
		}
		base := goServer(t, m)
		hc, jar := hostClient(strings.TrimPrefix(base, "http://"))
		site, _ := url.Parse("http://www.example.test/")
		// As express-session issued it: Domain from the session's cookie.
		jar.SetCookies(site, []*http.Cookie{{Name: "connect.sid", Value: url.QueryEscape(expressSign("s", sid)),
			Domain: "example.test", Path: "/", Expires: exp}})
		res := getOK(t, hc, "http://www.example.test/logout")
		if got := res.Header.Get("Set-Cookie"); !strings.Contains(got, "Domain=example.test") {
			t.Errorf("logout Set-Cookie %q lacks the stored cookie.domain", got)
		}
		if cs := jar.Cookies(site); len(cs) != 0 {
			t.Errorf("the browser keeps %v after a logout", cs)
		}
	})
}
