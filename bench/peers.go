package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/gofiber/fiber/v3"
	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/fiberstore"
	"github.com/mongosession/mongosession/gorillastore"
)

// PeerResult is one store of the peers section (7): ours or a store a user
// would otherwise install, through one framework.
type PeerResult struct {
	// Face is the framework: "scs", "fiber" or "gorilla".
	Face string
	// Store names the store: "mongosession" for ours, else the peer's
	// module (and what the bench added to it).
	Store string
	// Expiry says what the store does about expired sessions.
	Expiry string
	// NotRun, when set, says why the store could not be measured on this
	// server (its constructor failed); Find and EndToEnd are then empty.
	NotRun string
	// Find holds, for each of Config.Sizes, the median latency of loading
	// a random stored session: scs Store.Find, fiber Storage.Get, gorilla
	// Store.New from a request carrying the session's cookie. Each answer
	// is checked (found, and the bytes or values it was stored with).
	Find []time.Duration
	// EndToEnd is the framework's seed app on the store, loaded after the
	// largest size was measured (so on a collection holding that many
	// sessions), every answer checked as in section 5. Its Commands are
	// the server's own count during the load (see PerCollection), nil
	// when the server refused both top and serverStatus.
	EndToEnd EndToEndResult
	// PerCollection says what EndToEnd.Commands covers. True: the
	// operations on the store's collection only, by kind, from the
	// server's top command (find, getMore, insert, update, delete, and
	// "other commands" such as aggregate or count). False: where the
	// server refuses top (mongos, FerretDB, a user without the top
	// privilege), every command the server ran meanwhile, for any client
	// and for itself, from serverStatus metrics.commands, handshakes and
	// heartbeats left out; exact only on a server that the bench has to
	// itself.
	PerCollection bool
}

// peerSide is one store of the peers section, opened on a collection of
// its own. Its sessions are seeded by cloning a template document that the
// store wrote itself, so that every seeded session is in the store's own
// format and found through its own API.
type peerSide struct {
	face, store, expiry, notRun string

	coll *mongo.Collection // the side's collection, on the bench's client
	// keyField holds the lookup key in the store's documents, and docKey
	// gives its value for a session token (our _id may be a hash of it).
	// With newID the key is not _id: each clone gets its own ObjectID.
	keyField string
	docKey   func(token string) string
	newID    bool
	// write stores the template session through the store and returns
	// its token.
	write func(ctx context.Context) (token string, err error)
	// find loads the session of token through the store and checks it.
	find func(ctx context.Context, token string) error
	// serve runs the framework's seed app on ln; stop shuts it down.
	serve func(ln net.Listener) (stop func())
	close func()

	tokens []string
	find50 []time.Duration
}

// peerEnv is what every side is built from.
type peerEnv struct {
	cfg    Config
	client *mongo.Client // ours, and the seeding
	v1     *v1Client     // the peers built on driver v1
}

const (
	peerWeek       = 7 * 24 * time.Hour
	peerCookieName = "session"
	// peerViews is the count stored in every seeded gorilla session.
	peerViews = 41
)

// peerHashKey signs the gorilla cookies of both gorilla stores:
// laziness-coders/mongostore needs one, so ours gets the same.
var peerHashKey = []byte("0123456789abcdef0123456789abcdef")

func runPeers(ctx context.Context, cfg Config, client *mongo.Client, w io.Writer) ([]PeerResult, error) {
	v1, err := connectV1(ctx, cfg.URI)
	if err != nil {
		return nil, err
	}
	defer v1.close()
	env := peerEnv{cfg: cfg, client: client, v1: v1}
	counter := newOpCounter(ctx, client)

	builders := []func(context.Context, peerEnv) (*peerSide, error){
		oursSCS, scsPeer(false), scsPeer(true),
		oursFiber, fiberPeer,
		oursGorilla, gorillaPeer,
	}
	var sides []*peerSide
	defer func() {
		for _, s := range sides {
			if s.close != nil {
				s.close()
			}
		}
	}()
	for _, build := range builders {
		s, err := build(ctx, env)
		if err != nil {
			return nil, err
		}
		sides = append(sides, s)
	}
	var live []*peerSide
	for _, s := range sides {
		if s.notRun != "" {
			continue
		}
		token, err := s.write(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s, %s: writing the template session: %w", s.face, s.store, err)
		}
		s.tokens = []string{token}
		live = append(live, s)
	}

	for _, size := range cfg.Sizes {
		for _, s := range live {
			if err := s.seed(ctx, size); err != nil {
				return nil, fmt.Errorf("%s, %s: seeding %d sessions: %w", s.face, s.store, size, err)
			}
		}
		lookups := cfg.Lookups
		if size >= 100000 {
			lookups = max(lookups/2, 1) // each lookup may scan on FerretDB 1.24
		}
		lat := make([][]float64, len(live))
		for i := -1; i < lookups; i++ { // i == -1 warms up
			for j := range live {
				k := (max(i, 0) + j) % len(live) // a different side first each time
				s := live[k]
				t := s.tokens[rand.IntN(len(s.tokens))]
				start := time.Now()
				err := s.find(ctx, t)
				d := time.Since(start)
				if err != nil {
					return nil, fmt.Errorf("%s, %s: find at %d sessions: %w", s.face, s.store, size, err)
				}
				if i >= 0 {
					lat[k] = append(lat[k], float64(d))
				}
			}
		}
		for k, s := range live {
			s.find50 = append(s.find50, time.Duration(median(lat[k])))
		}
	}

	l := load{clients: max(cfg.LoadClients, 1), duration: cfg.LoadDuration, limit: cfg.LoadRequests}
	if l.duration <= 0 {
		l.duration = time.Second
	}
	var results []PeerResult
	for _, s := range sides {
		r := PeerResult{Face: s.face, Store: s.store, Expiry: s.expiry, NotRun: s.notRun, Find: s.find50,
			PerCollection: counter.perCollection()}
		if s.notRun == "" {
			if r.EndToEnd, err = s.loadApp(ctx, counter, l); err != nil {
				return nil, fmt.Errorf("%s, %s: end to end: %w", s.face, s.store, err)
			}
		}
		results = append(results, r)
	}
	printPeers(w, cfg, l, counter, results)
	return results, nil
}

// seed clones the template document until the collection holds size
// sessions.
func (s *peerSide) seed(ctx context.Context, size int) error {
	more := size - len(s.tokens)
	if more <= 0 {
		return nil
	}
	tmpl, err := s.coll.FindOne(ctx, bson.D{{Key: s.keyField, Value: s.docKey(s.tokens[0])}}).Raw()
	if err != nil {
		return fmt.Errorf("reading the template document: %w", err)
	}
	elems, err := tmpl.Elements()
	if err != nil {
		return err
	}
	tokens := newTokens(more)
	for len(tokens) > 0 {
		n := min(len(tokens), 1000)
		docs := make([]any, n)
		for i, t := range tokens[:n] {
			d := make(bson.D, 0, len(elems))
			for _, e := range elems {
				switch k := e.Key(); {
				case k == s.keyField:
					d = append(d, bson.E{Key: k, Value: s.docKey(t)})
				case k == "_id" && s.newID:
					// the driver gives each clone an ObjectID of its own
				default:
					d = append(d, bson.E{Key: k, Value: e.Value()})
				}
			}
			docs[i] = d
		}
		if _, err := s.coll.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false)); err != nil {
			return err
		}
		s.tokens = append(s.tokens, tokens[:n]...)
		tokens = tokens[n:]
	}
	return nil
}

// loadApp serves the side's seed app on a loopback listener under l and
// counts, with c, the commands the server ran meanwhile. The app is shut
// down before the count is read, waiting for every handler to return: a
// request that its client gave up on still runs on the server, and its
// commands are this store's, not the next one's.
func (s *peerSide) loadApp(ctx context.Context, c *opCounter, l load) (EndToEndResult, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return EndToEndResult{}, err
	}
	stop := s.serve(ln)

	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	cpu0 := processCPU()
	ns := s.coll.Database().Name() + "." + s.coll.Name()
	before, cerr := c.read(ctx, ns)
	lr := l.run(ctx, "http://"+ln.Addr().String()+"/")
	cpu := processCPU() - cpu0
	runtime.ReadMemStats(&m1)
	stop()
	after, cerr2 := c.read(ctx, ns)

	var cmds map[string]int64
	if cerr == nil && cerr2 == nil {
		cmds = map[string]int64{}
		for name, n := range after {
			if d := n - before[name]; d > 0 {
				cmds[name] = d
			}
		}
	}
	n := max(lr.requests, 1)
	return EndToEndResult{
		Face: s.face + " / " + s.store, Requests: lr.requests, Errors: lr.errors, FirstError: lr.firstError,
		Elapsed: lr.elapsed,
		P50:     time.Duration(quantile(lr.lat, 0.5)), P99: time.Duration(quantile(lr.lat, 0.99)),
		Commands:         cmds,
		CPUPerRequest:    cpu / time.Duration(n),
		AllocsPerRequest: float64(m1.Mallocs-m0.Mallocs) / float64(n),
		BytesPerRequest:  float64(m1.TotalAlloc-m0.TotalAlloc) / float64(n),
	}, nil
}

// opCounter reads the server's own count of the commands it ran: the
// peers are other libraries' stores, some on driver v1 and one on a client
// it dials itself, so no command monitor of ours sees their commands.
// Where the server answers top (mongod), it counts the operations on one
// collection, which no other client or internal job of the server (a
// replica set's heartbeats and oplog reads, the session cache's refresh)
// touches; elsewhere it falls back to serverStatus metrics.commands, a
// count over the whole server, and says why.
type opCounter struct {
	client *mongo.Client
	// noTop is why top cannot be used (its error), empty when it can.
	noTop string
}

// newOpCounter asks the server for top once, to choose the source.
func newOpCounter(ctx context.Context, client *mongo.Client) *opCounter {
	c := &opCounter{client: client}
	if _, err := c.top(ctx); err != nil {
		c.noTop = err.Error()
	}
	return c
}

func (c *opCounter) perCollection() bool { return c.noTop == "" }

// method says, for the section's header, how the commands are counted.
func (c *opCounter) method() string {
	if c.perCollection() {
		return "commands counted by the server on each store's collection alone (`top`), per request"
	}
	return "commands counted by the server, per request, over all its clients and jobs (serverStatus metrics.commands, handshakes and heartbeats left out; " +
		"exact only on a server the bench has to itself), since `top`, which counts per collection, was refused: " + c.noTop
}

// read returns the server's counts of the commands it has run, by name:
// with top, those on the namespace ns; without, all of them.
func (c *opCounter) read(ctx context.Context, ns string) (map[string]int64, error) {
	if !c.perCollection() {
		return serverCommands(ctx, c.client)
	}
	totals, err := c.top(ctx)
	if err != nil {
		return nil, err
	}
	return topCounts(totals, ns)
}

// top runs the top command on the primary and returns its totals
// document, whose fields are namespaces.
func (c *opCounter) top(ctx context.Context) (bson.Raw, error) {
	raw, err := c.client.Database("admin").RunCommand(ctx, bson.D{{Key: "top", Value: 1}},
		options.RunCmd().SetReadPreference(readpref.Primary())).Raw()
	if err != nil {
		return nil, err
	}
	totals, ok := raw.Lookup("totals").DocumentOK()
	if !ok {
		return nil, errors.New("top's answer has no totals")
	}
	return totals, nil
}

// topKinds names top's operation kinds as the commands that make them.
var topKinds = []struct{ field, command string }{
	{"queries", "find"}, {"getmore", "getMore"}, {"insert", "insert"},
	{"update", "update"}, {"remove", "delete"}, {"commands", "other commands"},
}

// topCounts returns the counts of the namespace ns in top's totals, by
// command name; none when the namespace is absent (nothing ran on it).
func topCounts(totals bson.Raw, ns string) (map[string]int64, error) {
	counts := map[string]int64{}
	doc, ok := totals.Lookup(ns).DocumentOK()
	if !ok {
		return counts, nil
	}
	for _, k := range topKinds {
		v := doc.Lookup(k.field, "count")
		if v.Type == 0 {
			continue
		}
		n, ok := v.AsInt64OK()
		if !ok {
			return nil, fmt.Errorf("top: %s.%s.count is a %s, not a number", ns, k.field, v.Type)
		}
		counts[k.command] = n
	}
	return counts, nil
}

// notCounted are the commands of serverStatus metrics.commands that are
// not a session store's work: the drivers' handshakes, heartbeats and
// authentication, and the bench's own serverStatus. FerretDB 1.x counts
// every legacy OP_QUERY message (driver v1's handshake and heartbeats) as
// "unknown".
var notCounted = map[string]bool{
	"hello": true, "isMaster": true, "ismaster": true, "ping": true, "endSessions": true,
	"saslStart": true, "saslContinue": true, "buildInfo": true, "serverStatus": true,
	"getnonce": true, "authenticate": true, "unknown": true,
}

// serverCommands returns the server's count of the commands it has
// received, by name (serverStatus metrics.commands, which MongoDB and
// FerretDB both keep), whichever client sent them.
func serverCommands(ctx context.Context, client *mongo.Client) (map[string]int64, error) {
	raw, err := client.Database("admin").RunCommand(ctx, bson.D{{Key: "serverStatus", Value: 1}},
		options.RunCmd().SetReadPreference(readpref.Primary())).Raw()
	if err != nil {
		return nil, err
	}
	doc, ok := raw.Lookup("metrics", "commands").DocumentOK()
	if !ok {
		return nil, errors.New("serverStatus has no metrics.commands")
	}
	elems, err := doc.Elements()
	if err != nil {
		return nil, err
	}
	counts := map[string]int64{}
	for _, e := range elems {
		if notCounted[e.Key()] {
			continue
		}
		sub, ok := e.Value().DocumentOK()
		if !ok {
			continue
		}
		if n, ok := sub.Lookup("total").AsInt64OK(); ok {
			counts[e.Key()] = n
		}
	}
	return counts, nil
}

// ours opens a mongosession store on the side's collection: default
// options (a TTL index, or a reaper where the server has none), except a
// Timeout long enough for a scan of 100 000 documents on FerretDB 1.24, as
// the peers have none, and a reaper that makes no pass during the run
// (peerReaperPaused), as scs's mongodbstore's.
func ours(ctx context.Context, env peerEnv, coll string) (*mongosession.Store, error) {
	return mongosession.New(ctx, mongosession.Options{
		Client: env.client, Database: env.cfg.Database, Collection: coll,
		Timeout: benchTimeout, CleanupInterval: 24 * time.Hour,
		Logger: slog.New(slog.DiscardHandler),
	})
}

// peerReaperPaused: a store's reaper would send its deleteMany during
// whichever store's load is running and be counted as that store's
// request's command, so no reaper makes a pass during the section (ours:
// CleanupInterval 24 h; scs's mongodbstore: CleanupInterval 0). TTL
// indexes stay: the server's monitor sends no command.
const peerReaperPaused = "paused for the run"

func oursExpiry(s *mongosession.Store) string {
	if s.Backend().Reaping() {
		return "reaper `deleteMany {expires: {$lte: now}}` (this server has no TTL indexes; " + peerReaperPaused + "), else a TTL index on `expires`; every read checks the expiry"
	}
	return "TTL index on `expires`; every read checks the expiry"
}

func oursSCS(ctx context.Context, env peerEnv) (*peerSide, error) {
	s, err := ours(ctx, env, "peers_scs_ours")
	if err != nil {
		return nil, err
	}
	side := scsSide(s, "mongosession", oursExpiry(s), s.Collection())
	side.keyField = "_id"
	side.docKey = storedID(s)
	side.close = func() { _ = s.Close() }
	return side, nil
}

// storedID is the _id of a token's session in s (the token, or its hash).
func storedID(s *mongosession.Store) func(string) string {
	return func(t string) string { id, _ := s.Backend().StoredID(t); return id }
}

// scsSide measures st through scs: Find, and the seed app of
// examples/hello on an scs.SessionManager.
func scsSide(st scs.Store, name, expiry string, coll *mongo.Collection) *peerSide {
	return &peerSide{
		face: "scs", store: name, expiry: expiry, coll: coll,
		write: func(context.Context) (string, error) {
			t := newToken()
			return t, st.Commit(t, sessionData, time.Now().Add(24*time.Hour))
		},
		find: func(_ context.Context, t string) error {
			b, found, err := st.Find(t)
			if err = mustFind(found, err); err != nil {
				return err
			}
			if !bytes.Equal(b, sessionData) {
				return fmt.Errorf("found %d bytes that are not the session stored", len(b))
			}
			return nil
		},
		serve: func(ln net.Listener) func() { return serveOn(ln, scsSeedApp(st, peerWeek)) },
	}
}

func oursFiber(ctx context.Context, env peerEnv) (*peerSide, error) {
	s, err := ours(ctx, env, "peers_fiber_ours")
	if err != nil {
		return nil, err
	}
	side := fiberSide(fiberstore.New(s), "mongosession", oursExpiry(s), s.Collection())
	side.keyField = "_id"
	side.docKey = storedID(s)
	side.close = func() { _ = s.Close() }
	return side, nil
}

// fiberSide measures st through fiber v3: Storage.Get, and the seed app of
// examples/fiber on fiber's session middleware.
func fiberSide(st fiber.Storage, name, expiry string, coll *mongo.Collection) *peerSide {
	return &peerSide{
		face: "fiber", store: name, expiry: expiry, coll: coll,
		write: func(ctx context.Context) (string, error) {
			t := newToken()
			return t, st.SetWithContext(ctx, t, sessionData, 24*time.Hour)
		},
		find: func(ctx context.Context, t string) error {
			b, err := st.GetWithContext(ctx, t)
			if err = mustFind(b != nil, err); err != nil {
				return err
			}
			if !bytes.Equal(b, sessionData) {
				return fmt.Errorf("found %d bytes that are not the session stored", len(b))
			}
			return nil
		},
		serve: func(ln net.Listener) func() { return serveFiberSeedApp(ln, st, peerWeek, benchTimeout) },
	}
}

func oursGorilla(ctx context.Context, env peerEnv) (*peerSide, error) {
	s, err := ours(ctx, env, "peers_gorilla_ours")
	if err != nil {
		return nil, err
	}
	gs := gorillastore.New(s, peerHashKey)
	side := gorillaSide(gs, gs.Codecs, "mongosession", oursExpiry(s), s.Collection())
	side.keyField = "_id"
	side.docKey = storedID(s)
	side.close = func() { _ = s.Close() }
	return side, nil
}

// gorillaSide measures st through gorilla/sessions: Store.New from a
// request carrying a session's cookie (made with codecs, as st makes
// them), and the seed app of examples/gorilla.
func gorillaSide(st sessions.Store, codecs []securecookie.Codec, name, expiry string, coll *mongo.Collection) *peerSide {
	side := &peerSide{face: "gorilla", store: name, expiry: expiry, coll: coll}
	side.write = func(context.Context) (string, error) {
		// The store names new sessions itself: save one and read its ID
		// back from the cookie.
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		sess, err := st.New(req, peerCookieName)
		if err != nil {
			return "", err
		}
		sess.Values["views"] = peerViews
		rec := httptest.NewRecorder()
		if err := sess.Save(req, rec); err != nil {
			return "", err
		}
		cookies := rec.Result().Cookies()
		if len(cookies) != 1 {
			return "", fmt.Errorf("saving a new session set %d cookies, want 1", len(cookies))
		}
		var id string
		err = securecookie.DecodeMulti(peerCookieName, cookies[0].Value, &id, codecs...)
		return id, err
	}
	side.find = func(_ context.Context, t string) error {
		cookie, err := securecookie.EncodeMulti(peerCookieName, t, codecs...)
		if err != nil {
			return err
		}
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.AddCookie(&http.Cookie{Name: peerCookieName, Value: cookie})
		sess, err := st.New(req, peerCookieName)
		if err != nil {
			return err
		}
		if sess.IsNew || sess.ID != t {
			return errors.New("a live session was not found")
		}
		if v, _ := sess.Values["views"].(int); v != peerViews {
			return fmt.Errorf("found views %v, want %d", sess.Values["views"], peerViews)
		}
		return nil
	}
	side.serve = func(ln net.Listener) func() { return serveOn(ln, gorillaSeedApp(st, peerCookieName)) }
	return side
}

// serveOn serves h on ln until the returned function shuts it down, which
// waits (up to benchTimeout) for the handlers still running.
func serveOn(ln net.Listener, h http.Handler) func() {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), benchTimeout)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}
}

func printPeers(w io.Writer, cfg Config, l load, c *opCounter, rs []PeerResult) {
	fmt.Fprintf(w, "## 7. Peers: the stores a user would otherwise install\n\n")
	limit := ""
	if l.limit > 0 {
		limit = fmt.Sprintf(" or %d requests in all", l.limit)
	}
	fmt.Fprintf(w, "Each store on a collection of its own, seeded with sessions in its own format (clones of one it wrote). "+
		"Find: median of %d loads a store (half of that from 100 000) of random stored sessions, every store in turn; each answer checked "+
		"(found, with what was stored). End to end: the framework's seed app on the store after the largest size, %d clients with a cookie jar each for %s%s, "+
		"every answer checked as in section 5; %s. "+
		"(×N): the store's figure over ours through the same framework in the same run.\n\n",
		cfg.Lookups, l.clients, l.duration, limit, c.method())
	head := []string{"face", "store"}
	for _, n := range cfg.Sizes {
		head = append(head, fmt.Sprintf("find ms at %d", n))
	}
	head = append(head, "req/s", "p50 ms", "p99 ms", "errors", "commands / request", "expiry")
	fmt.Fprintln(w, "| "+strings.Join(head, " | ")+" |")
	fmt.Fprintln(w, "|---|---"+strings.Repeat("|---:", len(cfg.Sizes)+4)+"|---|---|")
	var base PeerResult
	for _, r := range rs {
		if r.Store == "mongosession" {
			base = r
		}
		cells := []string{r.Face, r.Store}
		if r.NotRun != "" {
			for range len(cfg.Sizes) + 5 {
				cells = append(cells, "—")
			}
			cells = append(cells, r.Expiry+". **Did not run here: "+r.NotRun+"**")
			fmt.Fprintln(w, "| "+strings.Join(cells, " | ")+" |")
			continue
		}
		ratio := func(v, b float64) string {
			if r.Store == "mongosession" || b <= 0 {
				return ""
			}
			switch x := v / b; {
			case x >= 10:
				return fmt.Sprintf(" (×%.0f)", x)
			case x >= 1:
				return fmt.Sprintf(" (×%.1f)", x)
			default:
				return fmt.Sprintf(" (×%.2f)", x)
			}
		}
		for i, d := range r.Find {
			var b float64
			if i < len(base.Find) {
				b = float64(base.Find[i])
			}
			cells = append(cells, ms(d)+ratio(float64(d), b))
		}
		e := r.EndToEnd
		cmds := "n/a (top and serverStatus refused)"
		if e.Commands != nil {
			cmds = fmt.Sprintf("%.2f (%s)", e.CommandsPerRequest(), wireReading{count: e.Commands}.perRequest(e.Requests))
		}
		cells = append(cells,
			rps(e.RPS())+ratio(e.RPS(), base.EndToEnd.RPS()),
			ms(e.P50), ms(e.P99), fmt.Sprint(e.Errors), cmds, r.Expiry)
		fmt.Fprintln(w, "| "+strings.Join(cells, " | ")+" |")
	}
	fmt.Fprintln(w)
	for _, r := range rs {
		if r.EndToEnd.Errors > 0 {
			fmt.Fprintf(w, "%s, %s: %d errors; the first: %s\n\n", r.Face, r.Store, r.EndToEnd.Errors, r.EndToEnd.FirstError)
		}
	}
}

// rps prints requests per second with a decimal where they are few.
func rps(v float64) string {
	if v < 10 {
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}
