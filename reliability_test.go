package mongosession_test

// Fault tests (README, Reliability): the server going away under load
// (killed, or partitioned so that it stops answering), an app started
// before its database, cancellation in the middle of an operation, Close
// under load, and corrupt documents meeting the reaper and iteration.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"
	"go.uber.org/goleak"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/mongotest"
)

// errorLog records what scs's ErrorFunc receives.
type errorLog struct {
	mu    sync.Mutex
	errs  []error
	times []time.Time
}

func (l *errorLog) add(err error) {
	l.mu.Lock()
	l.errs, l.times = append(l.errs, err), append(l.times, time.Now())
	l.mu.Unlock()
}

// since returns the errors received after t.
func (l *errorLog) since(t time.Time) []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for i, at := range l.times {
		if at.After(t) {
			errs = append(errs, l.errs[i])
		}
	}
	return errs
}
func (l *errorLog) all() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]error(nil), l.errs...)
}

// loadApp serves /put (views+1, answered as a number) through scs with the
// store. Its ErrorFunc answers 503 for ErrUnavailable and ErrClosed, 500
// otherwise, and records the error.
func loadApp(t *testing.T, s *mongosession.Store, errs *errorLog) *httptest.Server {
	t.Helper()
	sm := scs.New()
	sm.Store = s
	sm.Lifetime = time.Hour
	sm.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) {
		errs.add(err)
		code := http.StatusInternalServerError
		if errors.Is(err, mongosession.ErrUnavailable) || errors.Is(err, mongosession.ErrClosed) {
			code = http.StatusServiceUnavailable
		}
		http.Error(w, http.StatusText(code), code)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/put", func(w http.ResponseWriter, r *http.Request) {
		n := sm.GetInt(r.Context(), "views") + 1
		sm.Put(r.Context(), "views", n)
		fmt.Fprint(w, n)
	})
	mux.HandleFunc("/get", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, sm.GetInt(r.Context(), "views"))
	})
	srv := httptest.NewServer(sm.LoadAndSave(mux))
	t.Cleanup(srv.Close)
	return srv
}

// result is one request of a load client.
type result struct {
	start, end time.Time
	status     int // 0: transport error
	body       string
	err        error
}

func (r result) ok() bool { return r.status == http.StatusOK }

// loadClient is a browser with its own cookie jar and connection pool.
type loadClient struct {
	base      string
	transport *http.Transport
	client    *http.Client

	mu      sync.Mutex
	results []result
}

func newLoadClient(base string, timeout time.Duration) *loadClient {
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{MaxIdleConnsPerHost: 2}
	return &loadClient{base: base, transport: tr, client: &http.Client{Jar: jar, Transport: tr, Timeout: timeout}}
}

func (c *loadClient) do(path string) result {
	r := result{start: time.Now()}
	resp, err := c.client.Get(c.base + path)
	if err == nil {
		b, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		r.status, r.body, err = resp.StatusCode, string(b), rerr
	}
	r.end, r.err = time.Now(), err
	if err != nil {
		r.status = 0
	}
	return r
}

// token returns the client's session cookie.
func (c *loadClient) token() string {
	u, _ := url.Parse(c.base)
	for _, ck := range c.client.Jar.Cookies(u) {
		if ck.Name == "session" {
			return ck.Value
		}
	}
	return ""
}

// loop requests path until stop is closed, keeping every result.
func (c *loadClient) loop(path string, stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		select {
		case <-stop:
			return
		default:
		}
		r := c.do(path)
		c.mu.Lock()
		c.results = append(c.results, r)
		c.mu.Unlock()
	}
}

// last returns the client's latest result, if any.
func (c *loadClient) last() (result, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.results) == 0 {
		return result{}, false
	}
	return c.results[len(c.results)-1], true
}

// TestSCSOutageUnderLoad kills the server under steady load through scs,
// keeps the load going, restarts the server on the same address and data,
// and checks: every request of the outage answers 503 (ErrUnavailable)
// within Timeout plus slack, never a transport error (a panic) or a hang;
// the same app serves every request again within a few seconds (settle;
// FerretDB's first writes after a crash can take longer than Timeout); no
// view counted before the outage is lost or counted twice, and idle
// sessions are intact value for value.
func TestSCSOutageUnderLoad(t *testing.T) {
	const (
		timeout = time.Second
		slack   = 2 * time.Second // scheduling on 2 shared cores under -race
		clients = 4
		idle    = 8
		settle  = 3 * time.Second // from the restart to steady service
		steady  = 2 * time.Second // of load after settle, all of it served
	)
	dir := t.TempDir()
	srv, err := mongotest.StartServer(dir, mongotest.RestartableAddr(t)) // restarted on the same address below
	must(t, err)
	defer func() { srv.Stop() }()

	// No timeouts in the URI: Options.Timeout alone bounds every request.
	// One connection: FerretDB 1.24 on SQLite, given concurrent writers,
	// now and then holds an update for more than a second (measured here
	// without any outage: 2 to 4 commits in 9 s of this load time out at
	// 1 s with the default pool, none with one connection), which would
	// blur what this test measures.
	s, err := mongosession.New(mongotest.SetupContext(t), mongosession.Options{URI: srv.URI, Collection: "outage", Timeout: timeout, Logger: mongotest.Logger(t),
		ClientOptions: options.Client().SetMaxPoolSize(1)})
	must(t, err)
	defer s.Close()
	var errs errorLog
	app := loadApp(t, s, &errs)

	// Idle sessions: written before the outage, read after it.
	idlers := make([]*loadClient, idle)
	for i := range idlers {
		idlers[i] = newLoadClient(app.URL, timeout+10*time.Second)
		for j := 0; j <= i; j++ {
			if r := idlers[i].do("/put"); !r.ok() {
				t.Fatalf("idle client %d before the outage: %d %s %v", i, r.status, r.body, r.err)
			}
		}
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	loaders := make([]*loadClient, clients)
	for i := range loaders {
		loaders[i] = newLoadClient(app.URL, timeout+10*time.Second)
		wg.Add(1)
		go loaders[i].loop("/put", stop, &wg)
	}
	time.Sleep(time.Second)

	srv.Kill()
	killed := time.Now()
	time.Sleep(4 * timeout)
	restarting := time.Now()
	srv, err = mongotest.StartServer(dir, srv.Addr)
	if err != nil {
		close(stop)
		wg.Wait()
		t.Fatalf("restarting the server: %v", err)
	}
	restarted := time.Now()
	t.Logf("server down for %v, restart took %v", restarting.Sub(killed), restarted.Sub(restarting))

	time.Sleep(settle + steady)
	close(stop)
	wg.Wait()

	var during, total int
	var worstOutage, firstBack, lastFail time.Duration
	tokens := map[string]bool{}
	for i, c := range loaders {
		tokens[c.token()] = true
		views, failed, recovered, steadyOK := 0, 0, false, 0
		for k, r := range c.results {
			total++
			el := r.end.Sub(r.start)
			if r.status == 0 {
				t.Errorf("client %d request %d: transport error %v (a panic or a hang in the app)", i, k, r.err)
				continue
			}
			if el > 2*timeout+slack {
				t.Errorf("client %d request %d took %v; a load and a commit are each bounded by Timeout %v", i, k, el, timeout)
			}
			inOutage := r.start.After(killed) && r.end.Before(restarting)
			if inOutage {
				during++
				worstOutage = max(worstOutage, el)
				if r.status != http.StatusServiceUnavailable {
					t.Errorf("client %d request %d during the outage: %d %q; want 503", i, k, r.status, r.body)
				}
				if el > timeout+slack {
					t.Errorf("client %d request %d during the outage took %v; Timeout is %v", i, k, el, timeout)
				}
			}
			if !r.ok() {
				failed++
				if r.start.After(restarted) {
					lastFail = max(lastFail, r.end.Sub(restarted))
				}
				if r.start.After(restarted.Add(settle)) {
					t.Errorf("client %d request %d failed (%d %q) %v after the restart", i, k, r.status, r.body, r.start.Sub(restarted))
				}
				continue
			}
			if r.start.After(restarted.Add(settle)) {
				steadyOK++
			}
			if r.start.After(restarted) && !recovered {
				recovered = true
				firstBack = max(firstBack, r.end.Sub(restarted))
			}
			n, err := strconv.Atoi(r.body)
			if err != nil {
				t.Fatalf("client %d: body %q", i, r.body)
			}
			// A failed request may have committed before failing (its
			// answer lost), so each may add one view; none may lose one.
			if n <= views || n > views+1+failed {
				t.Errorf("client %d request %d counted %d views after %d confirmed and %d failed requests", i, k, n, views, failed)
			}
			views, failed = n, 0
		}
		if steadyOK == 0 {
			t.Errorf("client %d was not served again after the server's return", i)
		}
	}
	if during < clients {
		t.Fatalf("only %d requests ran entirely during the outage; the test did not exercise it", during)
	}
	for i, c := range idlers {
		r := c.do("/get")
		if r.body != strconv.Itoa(i+1) {
			t.Errorf("idle session %d after the outage = %d %q; want %d", i, r.status, r.body, i+1)
		}
		tokens[c.token()] = true
	}
	all := errs.all()
	for _, err := range errs.since(restarted) {
		t.Logf("after the restart: %v", err)
	}
	for _, err := range all {
		if !errors.Is(err, mongosession.ErrUnavailable) {
			t.Errorf("scs got %v; want ErrUnavailable", err)
		}
		for tok := range tokens {
			if tok != "" && strings.Contains(err.Error(), tok) {
				t.Errorf("an error carries a session token: %v", err)
			}
		}
	}
	t.Logf("%d requests, %d entirely during the outage (slowest %v), %d errors reported to scs; every client served again %v after the restart, last failure ended %v after it",
		total, during, worstOutage.Round(time.Millisecond), len(all), firstBack.Round(time.Millisecond), lastFail.Round(time.Millisecond))
}

// freeAddr returns a loopback address nothing listens on (just released).
func freeAddr(t *testing.T) string {
	t.Helper()
	return mongotest.RestartableAddr(t)
}

// TestStartBeforeTheDatabase starts the app while the server is down: New
// fails with ErrUnavailable within its bound; then both patterns README
// documents work once the server comes up: retrying New with a backoff,
// and a lazily-connecting *mongo.Client on which New is called once it
// answers. Failed attempts leave no goroutine behind.
func TestStartBeforeTheDatabase(t *testing.T) {
	dir, addr := t.TempDir(), freeAddr(t)
	opts := mongosession.Options{URI: "mongodb://" + addr + "/", Collection: "late", Timeout: 500 * time.Millisecond, Logger: mongotest.Logger(t)}

	start := time.Now()
	s, err := mongosession.New(ctx, opts)
	if err == nil {
		s.Close()
		t.Fatal("New succeeded with no server")
	}
	if !errors.Is(err, mongosession.ErrUnavailable) {
		t.Fatalf("New with no server = %v; want ErrUnavailable", err)
	}
	if el := time.Since(start); el > opts.Timeout+2*time.Second {
		t.Fatalf("New with no server took %v; Timeout is %v", el, opts.Timeout)
	}

	// Pattern 1: retry New with a backoff while the server starts.
	type started struct {
		srv *mongotest.Server
		err error
	}
	up := make(chan started, 1)
	go func() {
		time.Sleep(time.Second)
		srv, err := mongotest.StartServer(dir, addr)
		up <- started{srv, err}
	}()
	attempts, backoff := 0, 100*time.Millisecond
	deadline := time.Now().Add(2 * time.Minute) // includes a cold build of the server
	for {
		attempts++
		s, err = mongosession.New(ctx, opts)
		if err == nil {
			break
		}
		if !errors.Is(err, mongosession.ErrUnavailable) || time.Now().After(deadline) {
			t.Fatalf("New attempt %d = %v", attempts, err)
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, time.Second)
	}
	st := <-up
	must(t, st.err)
	if attempts < 2 {
		t.Fatalf("New succeeded at once; the server was meant to be down")
	}
	must(t, s.CommitCtx(ctx, "late-token", []byte("kept"), hour()))
	must(t, s.Close())
	st.srv.Stop()

	// Pattern 2: a client of the app's own connects lazily; New is called
	// once it answers.
	client, err := mongo.Connect(options.Client().ApplyURI(opts.URI))
	must(t, err)
	lazy := opts
	lazy.URI, lazy.Client = "", client
	if s, err := mongosession.New(ctx, lazy); err == nil || !errors.Is(err, mongosession.ErrUnavailable) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("New on a lazy client with no server = %v; want ErrUnavailable", err)
	}
	go func() {
		srv, err := mongotest.StartServer(dir, addr)
		up <- started{srv, err}
	}()
	deadline = time.Now().Add(time.Minute)
	for {
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		err := client.Ping(pctx, nil)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the lazy client never reached the restarted server: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	st = <-up
	must(t, st.err)
	defer st.srv.Stop()
	s, err = mongosession.New(mongotest.SetupContext(t), lazy)
	must(t, err)
	if b, found, err := s.FindCtx(ctx, "late-token"); err != nil || !found || string(b) != "kept" {
		t.Errorf("session after two restarts = %q %v %v", b, found, err)
	}
	must(t, s.Close())
	must(t, client.Disconnect(ctx))
	t.Logf("pattern 1 needed %d attempts of New", attempts)
	checkNoLeak(t)
}

// stallProxy forwards TCP to a server and can stop forwarding without
// closing anything: a network partition, where the server neither answers
// nor refuses.
type stallProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	open  chan struct{} // closed while forwarding
	conns map[net.Conn]bool
	wg    sync.WaitGroup
	done  chan struct{}
}

func newStallProxy(t *testing.T, target string) *stallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	p := &stallProxy{ln: ln, target: target, open: make(chan struct{}), conns: map[net.Conn]bool{}, done: make(chan struct{})}
	close(p.open)
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

func (p *stallProxy) Addr() string { return p.ln.Addr().String() }

// Stall stops forwarding; Resume starts again.
func (p *stallProxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.open:
		p.open = make(chan struct{})
	default:
	}
}

func (p *stallProxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.open:
	default:
		close(p.open)
	}
}

// wait blocks while the proxy is stalled; false when it is closing.
func (p *stallProxy) wait() bool {
	p.mu.Lock()
	open := p.open
	p.mu.Unlock()
	select {
	case <-open:
		return true
	case <-p.done:
		return false
	}
}

func (p *stallProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		c.Close()
		return false
	default:
	}
	p.conns[c] = true
	return true
}

func (p *stallProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			if !p.wait() {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil || !p.track(up) {
				c.Close()
				return
			}
			p.wg.Add(2)
			go p.pipe(up, c)
			go p.pipe(c, up)
		}()
	}
}

func (p *stallProxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.wait() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// Close stops the proxy and waits for its goroutines.
func (p *stallProxy) Close() {
	p.mu.Lock()
	select {
	case <-p.done:
		p.mu.Unlock()
		return
	default:
	}
	close(p.done)
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.ln.Close()
	p.wg.Wait()
}

// proxiedURI returns the test server's URI pointing at a new stall proxy,
// with a direct connection so that the driver does not discover the
// server's real address. It skips when the URI is not a single plain host.
func proxiedURI(t *testing.T) (string, *stallProxy) {
	t.Helper()
	uri := mongotest.URI(t)
	cs, err := connstring.ParseAndValidate(uri)
	must(t, err)
	if cs.Scheme != connstring.SchemeMongoDB || len(cs.Hosts) != 1 || cs.SSL || cs.LoadBalanced {
		t.Skip("needs a single plain host in MONGODB_URI to put a TCP proxy in front of it")
	}
	p := newStallProxy(t, cs.Hosts[0])
	u := strings.Replace(uri, cs.Hosts[0], p.Addr(), 1)
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	return u + sep + "directConnection=true", p
}

// TestCancelMidOperation cancels contexts while their command is on the
// wire and the server has not answered (the proxy holds the reply): each
// operation returns the context's own error, not ErrUnavailable, long
// before the store's Timeout. Afterwards the store works and the data is
// intact. A write cancelled after it was sent may still be applied when
// the proxy lets it through (README: a command that timed out or was
// cancelled may still land), so the writes aim at a session of their own,
// whose outcome is any of the three; the session only read and touched
// must be intact.
func TestCancelMidOperation(t *testing.T) {
	uri, proxy := proxiedURI(t)
	const timeout = 5 * time.Second
	s := newStore(t, mongosession.Options{URI: uri, Timeout: timeout, AutoRemove: mongosession.AutoRemoveOff})
	must(t, s.CommitCtx(ctx, "cancel-me", []byte("intact"), hour()))
	must(t, s.CommitCtx(ctx, "cancel-other", []byte("original"), hour()))

	proxy.Stall()
	type namedOp struct {
		name string
		op   func(context.Context) error
	}
	ops := []namedOp{ // a fixed order, so that a failure can be replayed
		{"find", func(c context.Context) error { _, _, err := s.FindCtx(c, "cancel-me"); return err }},
		{"commit", func(c context.Context) error { return s.CommitCtx(c, "cancel-other", []byte("lost"), hour()) }},
		{"touch", func(c context.Context) error { _, err := s.Touch(c, "cancel-me", hour()); return err }},
		{"delete", func(c context.Context) error { return s.DeleteCtx(c, "cancel-other") }},
		{"count", func(c context.Context) error { _, err := s.Count(c); return err }},
		{"iter", func(c context.Context) error {
			for _, err := range s.Iter(c) {
				if err != nil {
					return err
				}
			}
			return nil
		}},
	}
	// The proxy holds every reply, so only the caller's context or the
	// store's Timeout can end an operation: ending well before Timeout
	// proves the context did. The margin is wide so that a loaded CI
	// machine does not make it flaky.
	const after, prompt = 200 * time.Millisecond, timeout / 2
	for _, o := range ops {
		name, op := o.name, o.op
		cctx, cancel := context.WithCancel(ctx)
		// start is read before the timer is armed: the cancel then comes
		// at least after past it however the scheduler delays this
		// goroutine in between.
		start := time.Now()
		timer := time.AfterFunc(after, cancel)
		err := op(cctx)
		el := time.Since(start)
		timer.Stop()
		cancel()
		if !errors.Is(err, context.Canceled) || errors.Is(err, mongosession.ErrUnavailable) {
			t.Errorf("%s cancelled mid-operation = %v; want context.Canceled, not ErrUnavailable", name, err)
		}
		if el < after || el > after+prompt {
			t.Errorf("%s returned %v after its start; cancelled at %v, want it within %v", name, el, after, prompt)
		}

		dctx, dcancel := context.WithTimeout(ctx, after)
		start = time.Now()
		err = op(dctx)
		el = time.Since(start)
		dcancel()
		if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, mongosession.ErrUnavailable) {
			t.Errorf("%s past the caller's deadline = %v; want context.DeadlineExceeded, not ErrUnavailable", name, err)
		}
		if el > after+prompt {
			t.Errorf("%s took %v with a %v deadline", name, el, after)
		}
	}
	proxy.Resume()
	if b, found, err := s.FindCtx(ctx, "cancel-me"); err != nil || !found || string(b) != "intact" {
		t.Fatalf("after the cancellations: %q %v %v; want the session intact", b, found, err)
	}
	b, found, err := s.FindCtx(ctx, "cancel-other")
	if err != nil || (found && string(b) != "original" && string(b) != "lost") {
		t.Fatalf("the written session after the cancellations: %q %v %v; want its value before or after a write, or deleted", b, found, err)
	}
}

// TestPartitionedServer stalls the network under the store (the server
// neither answers nor refuses, unlike a crash): every operation without a
// deadline of its own fails as ErrUnavailable within Timeout; when the
// network heals, the same store works again and nothing is lost.
func TestPartitionedServer(t *testing.T) {
	uri, proxy := proxiedURI(t)
	const timeout = 700 * time.Millisecond
	s := newStore(t, mongosession.Options{URI: uri, Timeout: timeout, AutoRemove: mongosession.AutoRemoveOff})
	for i := 0; i < 5; i++ {
		must(t, s.Commit(fmt.Sprintf("part%d", i), []byte(fmt.Sprint("value ", i)), hour()))
	}
	proxy.Stall()
	ops := []struct {
		name string
		op   func() error
	}{ // a fixed order, so that a failure can be replayed
		{"find", func() error { _, _, err := s.Find("part1"); return err }},
		{"commit", func() error { return s.Commit("part-new", []byte("x"), hour()) }},
		{"delete", func() error { return s.Delete("part2") }},
		{"all", func() error { _, err := s.All(); return err }},
	}
	for _, o := range ops {
		name, op := o.name, o.op
		start := time.Now()
		err := op()
		el := time.Since(start)
		if !errors.Is(err, mongosession.ErrUnavailable) {
			t.Errorf("%s during the partition = %v; want ErrUnavailable", name, err)
		}
		if el > timeout+2*time.Second {
			t.Errorf("%s took %v during the partition; Timeout is %v", name, el, timeout)
		}
	}
	proxy.Resume()
	healed := time.Now()
	for {
		_, _, err := s.Find("part0")
		if err == nil {
			break
		}
		if time.Since(healed) > 10*time.Second {
			t.Fatalf("the store did not recover within 10 s of the network healing: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("recovered %v after the network healed", time.Since(healed).Round(time.Millisecond))
	for i := 0; i < 5; i++ {
		b, found, err := s.Find(fmt.Sprintf("part%d", i))
		// part2's delete may have reached the server before its answer was
		// lost; every other session must be intact.
		if i == 2 && err == nil && !found {
			continue
		}
		if err != nil || !found || string(b) != fmt.Sprint("value ", i) {
			t.Errorf("session %d after the partition = %q %v %v", i, b, found, err)
		}
	}
}

// TestCloseUnderSCSLoad closes the store while scs requests and the reaper
// are running: no panic, requests in flight finish or answer with
// ErrClosed, later calls return ErrClosed, and no goroutine is left
// (goleak, against every goroutine the test started).
func TestCloseUnderSCSLoad(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	s, err := mongosession.New(mongotest.SetupContext(t), mongosession.Options{
		URI: mongotest.URI(t), Database: mongotest.Database, Collection: mongotest.Collection(t),
		AutoRemove: mongosession.AutoRemoveInterval, CleanupInterval: 50 * time.Millisecond,
		Timeout: 2 * time.Second, Logger: mongotest.Logger(t),
	})
	must(t, err)
	var errs errorLog
	sm := scs.New()
	sm.Store = s
	sm.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) {
		errs.add(err)
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
	}
	app := httptest.NewServer(sm.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := sm.GetInt(r.Context(), "n") + 1
		sm.Put(r.Context(), "n", n)
		fmt.Fprint(w, n)
	})))

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var okBefore atomic.Int64
	loaders := make([]*loadClient, 4)
	for i := range loaders {
		loaders[i] = newLoadClient(app.URL, 20*time.Second)
		wg.Add(1)
		go loaders[i].loop("/", stop, &wg)
	}
	time.Sleep(500 * time.Millisecond)
	for _, c := range loaders {
		if r, ok := c.last(); ok && r.ok() {
			okBefore.Add(1)
		}
	}
	closing := time.Now()
	must(t, s.Close())
	closeTook := time.Since(closing)
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()

	if okBefore.Load() == 0 {
		t.Fatal("no request succeeded before Close; the load did not run")
	}
	afterClose := 0
	for i, c := range loaders {
		for k, r := range c.results {
			switch {
			case r.status == 0:
				t.Errorf("client %d request %d: transport error %v (a panic or a hang)", i, k, r.err)
			case r.ok(), r.status == http.StatusServiceUnavailable:
			default:
				t.Errorf("client %d request %d: %d %q", i, k, r.status, r.body)
			}
			if r.start.After(closing.Add(closeTook)) {
				afterClose++
				if r.ok() {
					t.Errorf("client %d request %d started after Close returned and succeeded", i, k)
				}
			}
		}
	}
	if afterClose == 0 {
		t.Error("no request ran after Close; the test did not exercise it")
	}
	for _, err := range errs.all() {
		if !errors.Is(err, mongosession.ErrClosed) {
			t.Errorf("a request during or after Close failed with %v; want ErrClosed", err)
		}
	}
	if _, _, err := s.Find("x"); !errors.Is(err, mongosession.ErrClosed) {
		t.Errorf("Find after Close = %v", err)
	}
	if _, err := s.DeleteExpired(ctx); !errors.Is(err, mongosession.ErrClosed) {
		t.Errorf("DeleteExpired after Close = %v", err)
	}
	t.Logf("Close took %v with %d clients in flight", closeTook.Round(time.Millisecond), len(loaders))

	app.Close()
	for _, c := range loaders {
		c.transport.CloseIdleConnections()
	}
	// scs.New starts a cleanup goroutine for its default in-memory store,
	// replaced here by ours, and never stops it: scs's, not ours.
	goleak.VerifyNone(t, ignore, goleak.IgnoreTopFunction("github.com/alexedwards/scs/v2/memstore.(*MemStore).startCleanup"))
}

// TestReaperWithCorruptDocuments runs the reaper over a collection holding
// documents of every wrong shape: it deletes what has expired by its date,
// whatever the rest of the document; it leaves live documents and those
// whose expiry is not a date; it reports nothing (none of this is a
// failure of the reaper); reads of the good sessions are unaffected.
func TestReaperWithCorruptDocuments(t *testing.T) {
	var sink errorSink
	s := newStore(t, mongosession.Options{AutoRemove: mongosession.AutoRemoveInterval, CleanupInterval: 100 * time.Millisecond, OnError: sink.add, PlainIDs: true})
	must(t, s.CommitCtx(ctx, "good-live", []byte("live"), hour()))
	must(t, s.CommitCtx(ctx, "good-expired", []byte("gone"), time.Now().Add(-time.Minute)))
	raw := rawCollection(t, s)
	past, later := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	docs := []bson.D{
		{{Key: "_id", Value: "expired-session-string"}, {Key: "session", Value: "a string"}, {Key: "expires", Value: past}},
		{{Key: "_id", Value: "expired-deep"}, {Key: "session", Value: deep(90)}, {Key: "expires", Value: past}},
		{{Key: "_id", Value: "expired-huge"}, {Key: "session", Value: strings.Repeat("x", 15<<20)}, {Key: "expires", Value: past}},
		{{Key: "_id", Value: int64(42)}, {Key: "session", Value: bson.Binary{Data: []byte("x")}}, {Key: "expires", Value: past}},
		{{Key: "_id", Value: "live-session-number"}, {Key: "session", Value: 42}, {Key: "expires", Value: later}},
		{{Key: "_id", Value: "expires-string"}, {Key: "session", Value: bson.Binary{Data: []byte("x")}}, {Key: "expires", Value: past.Format(time.RFC3339)}},
		{{Key: "_id", Value: "expires-missing"}, {Key: "session", Value: bson.Binary{Data: []byte("x")}}},
		{{Key: "_id", Value: "expires-number"}, {Key: "session", Value: bson.Binary{Data: []byte("x")}}, {Key: "expires", Value: past.UnixMilli()}},
	}
	for _, d := range docs {
		_, err := raw.InsertOne(ctx, d)
		must(t, err)
	}
	want := "expires-missing,expires-number,expires-string,good-live,live-session-number"
	var got string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		cur, err := raw.Find(ctx, bson.D{}, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}).SetSort(bson.D{{Key: "_id", Value: 1}}))
		must(t, err)
		var ids []string
		for cur.Next(ctx) {
			ids = append(ids, cur.Current.Lookup("_id").String())
		}
		must(t, cur.Err())
		got = strings.ReplaceAll(joined(ids), `"`, "")
		if got == want || time.Now().After(deadline) {
			break
		}
	}
	if got != want {
		t.Fatalf("after the reaper the collection holds %s; want %s", got, want)
	}
	for _, err := range sink.all() {
		t.Errorf("the reaper reported %v over corrupt documents", err)
	}
	if b, found, err := s.FindCtx(ctx, "good-live"); err != nil || !found || string(b) != "live" {
		t.Errorf("good session among corrupt ones: %q %v %v", b, found, err)
	}
	var ids []string
	for rec, err := range s.Iter(ctx) {
		must(t, err)
		ids = append(ids, rec.ID)
	}
	if joined(ids) != "good-live" {
		t.Errorf("Iter = %v; want good-live only", ids)
	}
	reports := sink.all()
	if len(reports) != 1 || !errors.Is(reports[0], mongosession.ErrCorrupt) {
		t.Errorf("iteration reported %v; want one ErrCorrupt (live-session-number)", reports)
	}
}

// TestIterateDuringClose closes the store while a slow consumer iterates a
// collection mixing good and corrupt documents: the iteration yields only
// good records, skipping and reporting corrupt ones; Close waits for it up
// to Timeout and then ends it; no record comes after Close has returned,
// and the iteration ends with ErrClosed, once, last; no goroutine is left.
func TestIterateDuringClose(t *testing.T) {
	const timeout = 300 * time.Millisecond
	coll := mongotest.Collection(t)
	var sink errorSink
	s, err := mongosession.New(mongotest.SetupContext(t), mongosession.Options{URI: mongotest.URI(t), Database: mongotest.Database, Collection: coll,
		AutoRemove: mongosession.AutoRemoveOff, Timeout: timeout, OnError: sink.add, Logger: mongotest.Logger(t)})
	must(t, err)
	// A client of the test's own, disconnected before the leak check.
	rawClient, err := mongo.Connect(options.Client().ApplyURI(mongotest.URI(t)))
	must(t, err)
	raw := rawClient.Database(mongotest.Database).Collection(coll)
	later := time.Now().Add(time.Hour)
	var docs []any
	for i := 0; i < 250; i++ {
		if i%2 == 1 {
			docs = append(docs, bson.D{{Key: "_id", Value: fmt.Sprintf("bad%03d", i)}, {Key: "session", Value: "not binary"}, {Key: "expires", Value: later}})
			continue
		}
		docs = append(docs, bson.D{{Key: "_id", Value: fmt.Sprintf("it%03d", i)}, {Key: "session", Value: bson.Binary{Data: []byte(fmt.Sprint(i))}}, {Key: "expires", Value: later}})
	}
	_, err = raw.InsertMany(ctx, docs)
	must(t, err)

	const before = 20 // good records consumed before Close
	var closeTook time.Duration
	closed := make(chan struct{})
	seen := map[string]bool{}
	var errsSeen []error
	recordAfterError, recordAfterClose := false, false
	for rec, err := range s.Iter(ctx) {
		if err != nil {
			errsSeen = append(errsSeen, err)
			continue
		}
		if len(errsSeen) > 0 {
			recordAfterError = true
		}
		select {
		case <-closed:
			recordAfterClose = true
		default:
		}
		if n, err := strconv.Atoi(string(rec.Data)); err != nil || rec.ID != fmt.Sprintf("it%03d", n) {
			t.Errorf("iteration yielded %s = %q", rec.ID, rec.Data)
		}
		if seen[rec.ID] {
			t.Errorf("%s yielded twice", rec.ID)
		}
		seen[rec.ID] = true
		if len(seen) == before {
			go func() {
				start := time.Now()
				_ = s.Close()
				closeTook = time.Since(start)
				close(closed)
			}()
			// Go on only once Close has given up waiting and disconnected:
			// the next batch then meets a closed store.
			<-closed
		}
	}
	if recordAfterError {
		t.Error("a record was yielded after the error")
	}
	if recordAfterClose || len(seen) != before {
		t.Errorf("iteration yielded %d records, some after Close had returned; want %d, all before Close", len(seen), before)
	}
	if len(errsSeen) != 1 || !errors.Is(errsSeen[0], mongosession.ErrClosed) {
		t.Errorf("iteration cut by Close ended with %v; want ErrClosed once, last", errsSeen)
	}
	if closeTook < timeout || closeTook > timeout+2*time.Second {
		t.Errorf("Close took %v with an iteration in flight; it waits up to Timeout (%v)", closeTook, timeout)
	}
	for _, err := range sink.all() {
		if !errors.Is(err, mongosession.ErrCorrupt) {
			t.Errorf("OnError got %v; want only ErrCorrupt reports", err)
		}
	}
	if len(sink.all()) == 0 {
		t.Errorf("none of the corrupt documents met among %d good ones (every other one) was reported", before)
	}
	t.Logf("yielded %d good records, reported %d corrupt ones, Close took %v", len(seen), len(sink.all()), closeTook.Round(time.Millisecond))
	must(t, raw.Drop(ctx))
	must(t, rawClient.Disconnect(ctx))
	checkNoLeak(t)
}
