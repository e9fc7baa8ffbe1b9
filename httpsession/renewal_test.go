package httpsession_test

import (
	"testing"
)

// Regression tests for how a renewal's tombstone is followed and when it
// stops being followed.

// TestLogoutWithRenewedCookie: a logout sent with the token of a session
// that another tab renewed a moment ago (its response not applied yet) ends
// the renewed session too.
func TestLogoutWithRenewedCookie(t *testing.T) {
	e := newEnv(t, envConfig{})
	c := e.client(t)
	e.mustGet(t, c, "/login?user=alice")
	old := e.token(c)
	tab1 := e.withCookie(t, old)
	e.mustGet(t, tab1, "/login?user=alice")
	renewed := e.token(tab1)
	if renewed == old {
		t.Fatal("token not renewed")
	}
	_, body, res := e.get(t, e.withCookie(t, old), "/destroy")
	if body != "ok" {
		t.Fatalf("logout: %q", body)
	}
	if sc := res.Header.Get("Set-Cookie"); sc == "" {
		t.Error("the logout did not clear the old cookie")
	}
	if got := e.mustGet(t, e.withCookie(t, renewed), "/user"); got != "" {
		t.Errorf("after the logout the renewed token is still logged in as %q", got)
	}
	if n := e.live(t); n != 0 {
		t.Errorf("%d live sessions after the logout, want 0", n)
	}
	if e.doc(t, old) != nil {
		t.Error("the tombstone the logout followed is still there")
	}
}
