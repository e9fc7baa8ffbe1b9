package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// chromiumPath returns Debian's headless-capable Chromium (installed by
// .ci/setup-native), or CHROMIUM when set.
func chromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	return ""
}

// TestBrowserEndsAnotherDevice drives the example in headless Chromium:
// two browser contexts (separate cookie jars, as two devices) log in as
// alice; the first ends the second from the devices page; the second's next
// request finds itself logged out. The session cookie's flags are checked
// as the browser stored them.
func TestBrowserEndsAnotherDevice(t *testing.T) {
	path := chromiumPath()
	if path == "" {
		t.Skip("no Chromium: install Debian's chromium package (.ci/setup-native does) or set CHROMIUM")
	}
	srv, _ := startApp(t)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // CI runs as root
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("no-zygote", true),
		chromedp.Flag("disable-software-rasterizer", true),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	laptop, cancelLaptop := chromedp.NewContext(allocCtx)
	defer cancelLaptop()
	if err := chromedp.Do(laptop); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	phone, cancelPhone := chromedp.NewContext(laptop, chromedp.WithNewBrowserContext())
	defer cancelPhone()

	logIn := func(b context.Context) {
		t.Helper()
		err := chromedp.Do(b,
			chromedp.Navigate(srv.URL+"/login"),
			chromedp.WaitVisible(chromedp.ID("user")),
			chromedp.SendKeys(chromedp.ID("user"), "alice"),
			chromedp.SendKeys(chromedp.ID("password"), "wonderland"),
			chromedp.Click(chromedp.ID("submit")),
			chromedp.WaitVisible(chromedp.ID("devices")),
		)
		if err != nil {
			t.Fatalf("logging in: %v", err)
		}
	}

	// The seed page counts views with Incr.
	if err := chromedp.Do(laptop, chromedp.Navigate(srv.URL+"/"), chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	if body, err := chromedp.Run(laptop, chromedp.Evaluate[string]("document.body.innerText")); err != nil || body != `Hello {"views":2}` {
		t.Fatalf("seed page: %q, %v", body, err)
	}

	logIn(laptop)
	logIn(phone)

	// Cookie flags as the browser sees them.
	res, err := chromedp.Call(laptop, network.GetCookies, network.GetCookiesParams{URLs: []string{srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, c := range res.Cookies {
		if c.Name != "session" {
			continue
		}
		found = true
		if !c.HTTPOnly || c.SameSite != network.CookieSameSiteLax || c.Path != "/" || c.Secure || c.Session || len(c.Value) != 75 {
			t.Errorf("session cookie as stored by the browser: httpOnly=%v sameSite=%q path=%q secure=%v session=%v len=%d",
				c.HTTPOnly, c.SameSite, c.Path, c.Secure, c.Session, len(c.Value))
		}
		if exp := time.Unix(int64(c.Expires), 0); time.Until(exp) < 6*24*time.Hour {
			t.Errorf("persistent cookie expires %v", exp)
		}
	}
	if !found {
		t.Fatalf("the browser holds no session cookie: %+v", res.Cookies)
	}
	// HttpOnly: page scripts cannot read it.
	if js, err := chromedp.Run(laptop, chromedp.Evaluate[string]("document.cookie")); err != nil || strings.Contains(js, "session=") {
		t.Errorf("document.cookie = %q, %v", js, err)
	}

	// The laptop sees both sessions and ends the phone's.
	if err := chromedp.Do(laptop, chromedp.Navigate(srv.URL+"/devices"), chromedp.WaitVisible(chromedp.ID("devices"))); err != nil {
		t.Fatal(err)
	}
	nodes, err := chromedp.Run(laptop, chromedp.Nodes(chromedp.CSSAll("li.session")))
	if err != nil || len(nodes) != 2 {
		t.Fatalf("devices page lists %d sessions, want 2 (%v)", len(nodes), err)
	}
	if _, err := chromedp.RunResponse(laptop, chromedp.Click(chromedp.CSS("button.end"))); err != nil {
		t.Fatalf("ending the phone's session: %v", err)
	}
	nodes, err = chromedp.Run(laptop, chromedp.Nodes(chromedp.CSSAll("li.session")))
	if err != nil || len(nodes) != 1 {
		t.Fatalf("after ending one, the devices page lists %d sessions, want 1 (%v)", len(nodes), err)
	}

	// The phone's next request is logged out: /devices sends it to /login.
	if err := chromedp.Do(phone, chromedp.Navigate(srv.URL+"/devices"), chromedp.WaitVisible(chromedp.ID("login"))); err != nil {
		t.Fatal(err)
	}
	loc, err := chromedp.Run(phone, chromedp.Location())
	if err != nil || !strings.HasSuffix(loc, "/login") {
		t.Fatalf("the ended phone is at %q (%v), want /login", loc, err)
	}
	if n, err := chromedp.Run(phone, chromedp.Nodes(chromedp.CSSAll("#signed-in"), chromedp.AtLeast(0))); err != nil || len(n) != 0 {
		t.Fatalf("the ended phone still shows a signed-in user (%v)", err)
	}
	// The laptop is still signed in.
	if err := chromedp.Do(laptop, chromedp.Navigate(srv.URL+"/devices"), chromedp.WaitVisible(chromedp.ID("devices"))); err != nil {
		t.Fatalf("the laptop lost its session: %v", err)
	}
}
