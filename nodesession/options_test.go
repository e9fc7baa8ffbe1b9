package nodesession_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/mongotest"
	"github.com/mongosession/mongosession/nodesession"
)

func TestNewRefusesBadOptions(t *testing.T) {
	st := goStore(t, mongotest.Collection(t))
	ok := nodesession.ExpressCookie{Secrets: []string{"s"}}
	cases := []struct {
		name string
		opts nodesession.Options
		want string
	}{
		{"no store", nodesession.Options{Cookie: ok, Layout: nodesession.ConnectMongoDBSession{}}, "Options.Store"},
		{"no cookie", nodesession.Options{Store: st, Layout: nodesession.ConnectMongoDBSession{}}, "Options.Cookie"},
		{"no layout", nodesession.Options{Store: st, Cookie: ok}, "Options.Layout"},
		{"no secrets", nodesession.Options{Store: st, Cookie: nodesession.ExpressCookie{}, Layout: nodesession.ConnectMongoDBSession{}}, "Secrets"},
		{"empty secret", nodesession.Options{Store: st, Cookie: nodesession.ExpressCookie{Secrets: []string{""}}, Layout: nodesession.ConnectMongoDBSession{}}, "Secrets"},
		{"no keys", nodesession.Options{Store: st, Cookie: nodesession.KoaCookie{}, Layout: nodesession.KoaGenericSession{}}, "Keys"},
		{"koa cookie, express store", nodesession.Options{Store: st, Cookie: nodesession.KoaCookie{Keys: []string{"k"}}, Layout: nodesession.ConnectMongo{}}, "pairs"},
		{"express cookie, koa store", nodesession.Options{Store: st, Cookie: ok, Layout: nodesession.KoaGenericSession{}}, "pairs"},
		{"bad id field", nodesession.Options{Store: st, Cookie: ok, Layout: nodesession.ConnectMongoDBSession{IDField: "$x"}}, "IDField"},
		{"bad samesite", nodesession.Options{Store: st, Cookie: nodesession.ExpressCookie{Secrets: []string{"s"}, SameSite: "sometimes"}, Layout: nodesession.ConnectMongoDBSession{}}, "SameSite"},
		{"bad cookie name", nodesession.Options{Store: st, Cookie: nodesession.ExpressCookie{Secrets: []string{"s"}, Name: "a;b"}, Layout: nodesession.ConnectMongoDBSession{}}, "Name"},
		{"crypto without secret", nodesession.Options{Store: st, Cookie: ok, Layout: nodesession.ConnectMongo{Crypto: &nodesession.WebCrypto{}}}, "Secret"},
		{"crypto IV too short", nodesession.Options{Store: st, Cookie: ok, Layout: nodesession.ConnectMongo{Crypto: &nodesession.WebCrypto{Secret: "s", IVLength: 11}}}, "IVLength"},
		{"crypto IV of one byte", nodesession.Options{Store: st, Cookie: ok, Layout: nodesession.ConnectMongo{Crypto: &nodesession.WebCrypto{Secret: "s", IVLength: 1}}}, "IVLength"},
		{"crypto IV negative", nodesession.Options{Store: st, Cookie: ok, Layout: nodesession.ConnectMongo{Crypto: &nodesession.WebCrypto{Secret: "s", IVLength: -12}}}, "IVLength"},
		{"crypto bad encoding", nodesession.Options{Store: st, Cookie: ok, Layout: nodesession.ConnectMongo{Crypto: &nodesession.WebCrypto{Secret: "s", Encoding: "rot13"}}}, "Encoding"},
	}
	for _, c := range cases {
		_, err := nodesession.New(c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want one naming %s", c.name, err, c.want)
		}
	}
	if _, err := nodesession.New(nodesession.Options{Store: st, Cookie: ok, Layout: nodesession.ConnectMongoDBSession{}}); err != nil {
		t.Errorf("valid options refused: %v", err)
	}
	for _, iv := range []int{12, 16, 64} {
		if _, err := nodesession.New(nodesession.Options{Store: st, Cookie: ok, Layout: nodesession.ConnectMongo{Crypto: &nodesession.WebCrypto{Secret: "s", Iterations: 1000, IVLength: iv}}}); err != nil {
			t.Errorf("IVLength %d refused: %v", iv, err)
		}
	}
	// A store with the default hashed IDs cannot serve the Node app.
	hashed := mongotest.NewStore(t, mongosession.Options{})
	if _, err := nodesession.New(nodesession.Options{Store: hashed, Cookie: ok, Layout: nodesession.ConnectMongoDBSession{}}); err == nil || !strings.Contains(err.Error(), "PlainIDs") {
		t.Errorf("a store without PlainIDs: err = %v; want one naming PlainIDs", err)
	}
}

func TestSetRefusesKeys(t *testing.T) {
	st := goStore(t, mongotest.Collection(t))
	m, err := nodesession.New(nodesession.Options{Store: st, Cookie: nodesession.ExpressCookie{Secrets: []string{"s"}}, Layout: nodesession.ConnectMongoDBSession{}})
	if err != nil {
		t.Fatal(err)
	}
	req := newRequest(t)
	s, err := m.Load(req)
	if err != nil || !s.IsNew() {
		t.Fatalf("Load without a cookie: %v, new=%v", err, s != nil && s.IsNew())
	}
	for _, k := range []string{"", "cookie", "$where", "a.b", "\xff"} {
		if err := s.Set(k, 1); err == nil {
			t.Errorf("Set(%q) accepted", k)
		}
	}
	if err := s.Set("ok", 1); err != nil {
		t.Fatal(err)
	}
	if n, ok := s.Int("ok"); !ok || n != 1 {
		t.Fatalf("Int(ok) = %v, %v", n, ok)
	}
}

func newRequest(t *testing.T) *http.Request {
	t.Helper()
	return httptest.NewRequest("GET", "/", nil)
}
