package robustness

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongosession/mongosession"
)

// Config is one run of the harness.
type Config struct {
	Face     string        // a key of Faces
	Seed     uint64        // every random choice derives from it
	Duration time.Duration // how long the browsers run
	Browsers int           // virtual browsers (besides the attacker and its victims)
	Tabs     int           // concurrent tabs per browser (native only; byte-level browsers use one)
	Faults   bool          // inject faults through the proxy
	Bug      string        // a seeded bug (Bug...), "" for none

	// URI is the server's connection string, naming one host: the proxy
	// stands in front of that host (port 27017 if it names none), and the
	// apps connect to the proxy with the same string, its credentials and
	// options kept and directConnection=true added (see parseTarget for
	// the strings it refuses). Serialize makes the proxy send one command
	// at a time (see proxy).
	URI       string
	Serialize bool
	// Restart stops the server and starts it again on the same address
	// with the same data; nil: a restart fault is the proxy refusing
	// connections for a while instead.
	Restart func() error

	// Database and Collection hold the two app instances' sessions; Run
	// drops the collection when it ends.
	Database, Collection string
}

// env is a running harness: server, proxy, two app instances, actors.
type env struct {
	cfg   Config
	face  *face
	hist  *History
	proxy *proxy
	holds *holds
	addrs [2]string
	end   time.Time
	http  *http.Client

	mu         sync.Mutex
	holdSeq    int64
	restartErr error // a restart that failed: the rest of the run proves nothing
}

// Run runs cfg and returns its history. The error is for a harness that
// could not be set up, never for what the checker judges.
func Run(ctx context.Context, cfg Config) (*History, error) {
	f := Faces[cfg.Face]
	if f == nil {
		return nil, fmt.Errorf("robustness: no face %q", cfg.Face)
	}
	tgt, err := parseTarget(cfg.URI)
	if err != nil {
		return nil, err
	}
	px, err := newProxy(tgt.Backend, cfg.Serialize)
	if err != nil {
		return nil, err
	}
	defer px.Close()
	e := &env{cfg: cfg, face: f, hist: newHistory(), proxy: px, holds: &holds{},
		http: &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}}
	defer e.http.CloseIdleConnections()

	// Two app instances, each with its own client and store, on one
	// collection: two app servers behind a load balancer.
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for i := range 2 {
		client, err := mongo.Connect(options.Client().
			ApplyURI(tgt.appURI(px.Addr())).
			SetServerSelectionTimeout(2 * time.Second))
		if err != nil {
			return nil, err
		}
		defer client.Disconnect(context.Background())
		sctx, cancel := context.WithTimeout(ctx, time.Minute)
		store, err := mongosession.New(sctx, mongosession.Options{
			Client: client, Database: cfg.Database, Collection: cfg.Collection,
			Timeout: 2 * time.Second, Logger: quiet,
		})
		cancel()
		if err != nil {
			return nil, err
		}
		defer store.Close()
		if i == 0 {
			// Dropped, not cleared: a run on a server MONGODB_URI names
			// leaves no empty collection (and its indexes) behind.
			defer store.Collection().Drop(context.Background())
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		e.addrs[i] = ln.Addr().String()
		stop := f.start(ln, store, i, e.holds, cfg.Bug)
		defer stop()
	}

	e.end = time.Now().Add(cfg.Duration)
	var wg sync.WaitGroup
	stopFaults := make(chan struct{})
	if cfg.Faults {
		wg.Add(1)
		go func() { defer wg.Done(); e.faults(rand.New(rand.NewPCG(cfg.Seed, 1000)), stopFaults) }()
	}
	tabs := 1
	if !f.bytes && cfg.Tabs > 1 {
		tabs = cfg.Tabs
	}
	var actors sync.WaitGroup
	for i := range cfg.Browsers {
		b := e.newBrowser(fmt.Sprintf("b%d", i), uint64(i+1))
		b.user = fmt.Sprintf("u%d", i)
		if !f.bytes {
			b.user = fmt.Sprintf("u%d", i/2) // two devices per user, for revocation
		}
		for t := range tabs {
			actors.Add(1)
			go func() { defer actors.Done(); b.loop(t) }()
		}
	}
	actors.Add(1)
	go func() { defer actors.Done(); e.attacker(rand.New(rand.NewPCG(cfg.Seed, 999))) }()
	actors.Wait()
	close(stopFaults)
	wg.Wait()
	if e.restartErr != nil {
		return e.hist, fmt.Errorf("robustness: restarting the server: %w", e.restartErr)
	}
	return e.hist, nil
}

// faults injects one fault after another until stop.
func (e *env) faults(r *rand.Rand, stop chan struct{}) {
	for {
		select {
		case <-stop:
			e.proxy.SetLatency(0)
			return
		case <-time.After(time.Duration(150+r.IntN(600)) * time.Millisecond):
		}
		switch k := r.IntN(10); {
		case k < 3:
			d := time.Duration(r.IntN(25)) * time.Millisecond
			e.proxy.SetLatency(d)
			e.hist.fault("latency up to %v", d)
		case k < 5:
			// up to 3 s: longer than the stores' Timeout (2 s) now and then,
			// so that a request fails while its command is on its way
			d := time.Duration(100+r.IntN(2900)) * time.Millisecond
			e.proxy.Stall(d)
			e.hist.fault("stall %v", d)
		case k < 7:
			e.proxy.CutOne(r)
			e.hist.fault("cut one connection")
		case k < 8:
			e.proxy.cutAll()
			e.hist.fault("cut every connection")
		default:
			d := time.Duration(200+r.IntN(800)) * time.Millisecond
			e.proxy.SetDown(true)
			if e.cfg.Restart != nil {
				e.hist.fault("server stopped, restarted after %v", d)
				time.Sleep(d)
				if err := e.cfg.Restart(); err != nil {
					e.hist.fault("restart failed: %v", err)
					e.mu.Lock()
					e.restartErr = err
					e.mu.Unlock()
				}
			} else {
				e.hist.fault("server unreachable for %v", d)
				time.Sleep(d)
			}
			e.proxy.SetDown(false)
		}
	}
}

// request is what a browser asks.
type request struct {
	kind       Kind
	key, value string
	user       string
	hold       bool
}

// send sends req with cookie to a random instance and records it. A held
// request is sent in the background: send returns once it reached its
// handler (or failed), with a function that lets it go on and waits for it.
func (e *env) send(r *rand.Rand, actor, cookie string, req request) (*Op, func()) {
	o := &Op{Actor: actor, Instance: r.IntN(2), Kind: req.kind, Key: req.key, Value: req.value,
		User: req.user, Cookie: cookie, Held: req.hold}
	q := url.Values{"op": {string(req.kind)}}
	if req.key != "" {
		q.Set("k", req.key)
	}
	if req.value != "" {
		q.Set("v", req.value)
	}
	if req.user != "" {
		q.Set("u", req.user)
	}
	var h *hold
	if req.hold {
		e.mu.Lock()
		e.holdSeq++
		id := strconv.FormatInt(e.holdSeq, 10)
		e.mu.Unlock()
		q.Set("hold", id)
		h = e.holds.get(id)
	}
	u := "http://" + e.addrs[o.Instance] + "/?" + q.Encode()
	do := func() {
		hr, _ := http.NewRequest(http.MethodGet, u, nil)
		if cookie != "" {
			hr.AddCookie(&http.Cookie{Name: e.face.cookie, Value: cookie})
		}
		e.hist.begin(o)
		resp, err := e.http.Do(hr)
		if err != nil {
			e.hist.end(o)
			o.Status, o.Raw = Failed, err.Error()
			return
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		e.hist.end(o)
		o.Raw = string(body)
		switch {
		case err != nil:
			o.Status, o.Raw = Failed, err.Error()
		case resp.StatusCode == http.StatusOK:
			o.Status = OK
		case resp.StatusCode == http.StatusConflict:
			o.Status = Ended
		default:
			o.Status = Failed
		}
		o.Answer = parseAnswer(o.Raw)
		for _, c := range resp.Cookies() {
			if c.Name != e.face.cookie {
				continue
			}
			if c.Value == "" || c.MaxAge < 0 || (!c.Expires.IsZero() && c.Expires.Before(time.Now())) {
				o.SetTo = "-"
			} else {
				o.SetTo = c.Value
			}
		}
		if o.SetTo == cookie {
			o.SetTo = ""
		}
		if o.SetTo == "-" && cookie == "" {
			o.SetTo = ""
		}
	}
	if !req.hold {
		do()
		return o, nil
	}
	done := make(chan struct{})
	go func() { defer close(done); do() }()
	select {
	case <-h.arrived:
	case <-done:
	case <-time.After(30 * time.Second):
	}
	return o, func() {
		o.Release = e.hist.now()
		close(h.release)
		<-done
	}
}

// browser is a virtual browser: one cookie, shared by its tabs.
type browser struct {
	e    *env
	name string
	user string
	seed uint64

	mu     sync.Mutex
	cookie string
	seq    int
	// ops take it shared; login, logout and revoke exclusively, so that
	// a browser's own tabs never race its renewals (the attacker does).
	turn sync.RWMutex
}

func (e *env) newBrowser(name string, stream uint64) *browser {
	return &browser{e: e, name: name, seed: stream}
}

func (b *browser) jar() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cookie
}

// tag is a value unique to the run: who wrote it and when.
func (b *browser) tag() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	return fmt.Sprintf("%s.%d", b.name, b.seq)
}

// do sends req with the browser's cookie and takes the cookie the answer
// sets, as a browser does.
func (b *browser) do(r *rand.Rand, req request) *Op {
	o, _ := b.e.send(r, b.name, b.jar(), req)
	b.take(o)
	return o
}

func (b *browser) take(o *Op) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch o.SetTo {
	case "":
	case "-":
		b.cookie = ""
	default:
		b.cookie = o.SetTo
	}
}

func (b *browser) pause(r *rand.Rand) {
	d := time.Duration(r.IntN(20)) * time.Millisecond
	if r.IntN(10) == 0 {
		d = time.Duration(50+r.IntN(200)) * time.Millisecond
	}
	time.Sleep(d)
}

// loop is one tab: random operations with random pauses until the run ends.
func (b *browser) loop(tab int) {
	r := rand.New(rand.NewPCG(b.e.cfg.Seed, b.seed*100+uint64(tab)))
	native := !b.e.face.bytes
	keys := []string{"a", "b"}
	for time.Now().Before(b.e.end) {
		b.pause(r)
		k := r.IntN(100)
		switch {
		case k < 25:
			b.shared(func() { b.do(r, request{kind: Put, key: keys[r.IntN(2)], value: b.tag()}) })
		case k < 55:
			b.shared(func() { b.do(r, request{kind: Get, key: keys[r.IntN(2)]}) })
		case k < 80:
			kind := Incr
			if native && r.IntN(2) == 0 {
				kind = Blind
			}
			b.shared(func() { b.do(r, request{kind: kind}) })
		case k < 85:
			b.shared(func() { b.do(r, request{kind: Whoami}) })
		case k < 92:
			b.exclusive(func() { b.do(r, request{kind: Login, user: b.user}) })
		case k < 97:
			b.exclusive(func() { b.logout(r) })
		default:
			if native {
				b.exclusive(func() { b.do(r, request{kind: Revoke, user: b.user}) })
			}
		}
	}
}

func (b *browser) shared(f func())    { b.turn.RLock(); defer b.turn.RUnlock(); f() }
func (b *browser) exclusive(f func()) { b.turn.Lock(); defer b.turn.Unlock(); f() }

// logout logs out; now and then a copy of the cookie (a stolen one, or a
// second window) keeps a request open across it and is used after it.
func (b *browser) logout(r *rand.Rand) {
	old := b.jar()
	var release func()
	if old != "" && r.IntN(2) == 0 {
		kind := []Kind{Put, Get, Incr}[r.IntN(3)]
		req := request{kind: kind, hold: true}
		if kind == Put {
			req.key, req.value = "a", b.tag()
		}
		if kind == Get {
			req.key = "a"
		}
		_, release = b.e.send(r, b.name+"~", old, req)
	}
	b.do(r, request{kind: Logout})
	if release != nil {
		time.Sleep(time.Duration(r.IntN(30)) * time.Millisecond)
		release()
	}
	if old != "" && r.IntN(2) == 0 {
		b.e.send(r, b.name+"~", old, request{kind: Get, key: "a"})
	}
}

// attacker runs fixation attempts until the run ends: it gets a session,
// plants its cookie in a fresh victim's browser, keeps requests open with
// it across the victim's login, and keeps using it after.
func (e *env) attacker(r *rand.Rand) {
	for n := 0; time.Now().Before(e.end); n++ {
		time.Sleep(time.Duration(r.IntN(100)) * time.Millisecond)
		atk := e.newBrowser("atk", 0)
		atk.name = fmt.Sprintf("atk%d", n)
		o := atk.do(r, request{kind: Put, key: "a", value: atk.tag()})
		planted := atk.jar()
		if o.Status != OK || planted == "" {
			continue
		}
		victim := e.newBrowser(fmt.Sprintf("victim%d", n), 0)
		victim.cookie = planted // planted: a subdomain's cookie, a shared computer

		var releases []func()
		for range 1 + r.IntN(2) {
			_, rel := e.send(r, atk.name, planted, request{kind: Put, key: "x", value: atk.tag(), hold: true})
			releases = append(releases, rel)
		}
		victim.do(r, request{kind: Login, user: victim.name})
		for _, i := range r.Perm(3) {
			switch {
			case i == 0 && r.IntN(2) == 0:
				e.send(r, atk.name, planted, request{kind: Put, key: "x", value: atk.tag()})
			case i == 1 && r.IntN(2) == 0:
				e.send(r, atk.name, planted, request{kind: Logout})
			case i == 2:
				e.send(r, atk.name, planted, request{kind: Get, key: "a"})
			}
		}
		for _, i := range r.Perm(len(releases)) {
			time.Sleep(time.Duration(r.IntN(20)) * time.Millisecond)
			releases[i]()
		}
		victim.do(r, request{kind: Get, key: "x"})
		victim.do(r, request{kind: Whoami})
		e.send(r, atk.name, planted, request{kind: Get, key: "x"})
		e.send(r, atk.name, planted, request{kind: Whoami})
		if r.IntN(2) == 0 {
			victim.do(r, request{kind: Logout})
		}
	}
}
