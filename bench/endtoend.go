package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/gofiber/fiber/v3"
	fiberrecover "github.com/gofiber/fiber/v3/middleware/recover"
	fibersession "github.com/gofiber/fiber/v3/middleware/session"
	"github.com/gorilla/sessions"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/fiberstore"
	"github.com/mongosession/mongosession/gorillastore"
	"github.com/mongosession/mongosession/httpsession"
)

// EndToEndResult is the seed app of one face (or the raw-driver baseline)
// under the load of the end-to-end section.
type EndToEndResult struct {
	Face string
	// Requests is the number of requests answered (well or not), Errors
	// those that failed: a transport error, a status other than 200, or a
	// body other than Hello {"views":N} with N one more than the client's
	// previous answer (a lost or shared session). FirstError describes the
	// first of them.
	Requests, Errors int
	FirstError       string
	// Elapsed is the time from the first request to the last answer.
	Elapsed time.Duration
	// P50 and P99 are quantiles of the latency of the answered requests,
	// as the clients saw it.
	P50, P99 time.Duration
	// Commands is the number of MongoDB commands the face's client sent
	// during the load, by command name.
	Commands map[string]int64
	// CPUPerRequest, AllocsPerRequest and BytesPerRequest are the
	// process's CPU time and Go allocations divided by Requests: the load
	// clients, the HTTP server, the face and the driver, all in this
	// process (the MongoDB server is another).
	CPUPerRequest                     time.Duration
	AllocsPerRequest, BytesPerRequest float64
}

// RPS is requests per second.
func (r EndToEndResult) RPS() float64 { return float64(r.Requests) / r.Elapsed.Seconds() }

// CommandsPerRequest is the MongoDB commands sent per request.
func (r EndToEndResult) CommandsPerRequest() float64 {
	var n int64
	for _, c := range r.Commands {
		n += c
	}
	return float64(n) / float64(max(r.Requests, 1))
}

// endToEndFaces are the faces of the end-to-end section, in table order.
var endToEndFaces = []string{"scs", "gorilla", "fiber", "native", "raw driver"}

// hello is the seed app's answer.
func hello(views int64) string {
	body, _ := json.Marshal(map[string]int64{"views": views})
	return "Hello " + string(body)
}

// seedApp serves face's seed app (count a view, answer Hello {"views":N},
// as examples/hello, examples/gorilla, examples/fiber and examples/native
// do) on ln, with its store's commands going through client. stop shuts
// the app down and closes its store.
func seedApp(ctx context.Context, face string, client *mongo.Client, cfg Config, ln net.Listener) (stop func(), err error) {
	s, err := mongosession.New(ctx, mongosession.Options{
		Client: client, Database: cfg.Database, Collection: "e2e_" + collName(face),
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, err
	}
	serve := func(h http.Handler) func() {
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		return func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
			_ = s.Close()
		}
	}
	const week = 7 * 24 * time.Hour
	switch face {
	case "scs": // examples/hello
		return serve(scsSeedApp(s, week)), nil

	case "gorilla": // examples/gorilla, without SESSION_KEY
		return serve(gorillaSeedApp(gorillastore.New(s), "session")), nil

	case "fiber": // examples/fiber
		stop := serveFiberSeedApp(ln, fiberstore.New(s), week, 5*time.Second)
		return func() {
			stop()
			_ = s.Close()
		}, nil

	case "native": // examples/native's / route
		sm := httpsession.New(s)
		sm.Lifetime = week
		sm.IdleTimeout = 2 * time.Hour
		mux := http.NewServeMux()
		mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
			views, err := sm.Incr(r.Context(), "views", 1)
			if err != nil {
				http.Error(w, "the view counter failed", http.StatusInternalServerError)
				return
			}
			fmt.Fprint(w, hello(views))
		})
		return serve(sm.LoadAndSave(mux)), nil

	case "raw driver":
		return serve(rawSeedApp(s.Collection(), s.Backend().Timeout(), week)), nil
	}
	_ = s.Close()
	return nil, fmt.Errorf("unknown face %q", face)
}

// scsSeedApp is examples/hello's app on store: count a view through scs.
func scsSeedApp(store scs.Store, lifetime time.Duration) http.Handler {
	sm := scs.New()
	sm.Store = store
	sm.Lifetime = lifetime
	return sm.LoadAndSave(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		views := sm.GetInt(r.Context(), "views") + 1
		sm.Put(r.Context(), "views", views)
		fmt.Fprint(w, hello(int64(views)))
	}))
}

// gorillaSeedApp is examples/gorilla's app on st, with the session named
// name. A failure answers 500 with its reason, for the bench's report.
func gorillaSeedApp(st sessions.Store, name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, err := st.Get(r, name)
		if err != nil {
			http.Error(w, "session unavailable: "+err.Error(), http.StatusInternalServerError)
			return
		}
		views, _ := sess.Values["views"].(int)
		views++
		sess.Values["views"] = views
		if err := sess.Save(r, w); err != nil {
			http.Error(w, "session not saved: "+err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, hello(int64(views)))
	})
}

// serveFiberSeedApp serves examples/fiber's app on st (fiber's session
// middleware) on ln until the returned function shuts it down, waiting up
// to shutdown for the handlers still running.
func serveFiberSeedApp(ln net.Listener, st fiber.Storage, idle, shutdown time.Duration) func() {
	app := fiber.New()
	app.Use(fiberrecover.New())
	app.Use(fibersession.New(fibersession.Config{
		Storage:        st,
		IdleTimeout:    idle,
		CookieHTTPOnly: true,
	}))
	app.Get("/", func(c fiber.Ctx) error {
		sess := fibersession.FromContext(c)
		views, _ := sess.Get("views").(int)
		views++
		sess.Set("views", views)
		return c.SendString(hello(int64(views)))
	})
	go func() { _ = app.Listener(ln, fiber.ListenConfig{DisableStartupMessage: true}) }()
	return func() { _ = app.ShutdownWithTimeout(shutdown) }
}

// collName is the collection of face's sessions.
func collName(face string) string {
	if face == "raw driver" {
		return "raw"
	}
	return face
}

// rawSeedApp is the seed app written with the driver alone, the floor a
// store can approach: a find by _id of the cookie's session (none for a new
// visitor), then an upsert of the new count and expiry, each bounded by
// timeout as the store bounds its operations.
func rawSeedApp(coll *mongo.Collection, timeout, lifetime time.Duration) http.Handler {
	const cookie = "sid"
	proj := options.FindOne().SetProjection(bson.D{{Key: "views", Value: 1}, {Key: "expires", Value: 1}})
	upsert := options.UpdateOne().SetUpsert(true)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var token string
		var views int64
		if c, err := r.Cookie(cookie); err == nil {
			ctx, cancel := context.WithTimeout(r.Context(), timeout)
			raw, err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: c.Value}}, proj).Raw()
			cancel()
			switch {
			case errors.Is(err, mongo.ErrNoDocuments):
			case err != nil:
				http.Error(w, "session unavailable", http.StatusInternalServerError)
				return
			default:
				if exp, ok := raw.Lookup("expires").DateTimeOK(); ok && time.UnixMilli(exp).After(time.Now()) {
					token = c.Value
					views, _ = raw.Lookup("views").AsInt64OK()
				}
			}
		}
		if token == "" {
			token = newToken()
		}
		views++
		expires := time.Now().Add(lifetime)
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		_, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: token}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "views", Value: views}, {Key: "expires", Value: bson.NewDateTimeFromTime(expires)}}}}, upsert)
		cancel()
		if err != nil {
			http.Error(w, "session unavailable", http.StatusInternalServerError)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: cookie, Value: token, Path: "/", Expires: expires, HttpOnly: true, SameSite: http.SameSiteLaxMode})
		fmt.Fprint(w, hello(views))
	})
}

// load is the bounded load of the end-to-end section: clients concurrent
// clients, each with its own cookie jar, sending GET / to url one request
// after the other until duration has passed since the start or limit
// requests (when positive) have been sent in all. A request in flight at
// the deadline finishes and counts.
type load struct {
	clients  int
	duration time.Duration
	limit    int
}

type loadResult struct {
	lat        []float64 // ns, answered requests
	requests   int
	errors     int
	firstError string
	elapsed    time.Duration
}

func (l load) run(ctx context.Context, url string) loadResult {
	tr := &http.Transport{
		Proxy:               nil, // loopback only, whatever the environment says
		MaxIdleConnsPerHost: l.clients,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	var (
		mu      sync.Mutex
		res     loadResult
		started atomic.Int64
		wg      sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(l.duration)
	for range l.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			jar, _ := cookiejar.New(nil)
			c := &http.Client{Transport: tr, Jar: jar, Timeout: 30 * time.Second}
			var (
				lat   []float64
				views int64
				errs  int
				first string
				fail  = func(err string) {
					if errs == 0 {
						first = err
					}
					errs++
				}
			)
			for ctx.Err() == nil && time.Now().Before(deadline) {
				if l.limit > 0 && started.Add(1) > int64(l.limit) {
					break
				}
				t0 := time.Now()
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				resp, err := c.Do(req)
				if err != nil {
					fail(err.Error())
					continue
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				d := time.Since(t0)
				lat = append(lat, float64(d))
				switch want := hello(views + 1); {
				case err != nil:
					fail(err.Error())
				case resp.StatusCode != http.StatusOK:
					fail(fmt.Sprintf("%s: %.200s", resp.Status, body))
				case string(body) != want:
					fail(fmt.Sprintf("answered %.200q, want %q", body, want))
					var v struct{ Views int64 }
					if len(body) > 6 && json.Unmarshal(body[6:], &v) == nil {
						views = v.Views
					}
				default:
					views++
				}
			}
			mu.Lock()
			res.lat = append(res.lat, lat...)
			res.requests += len(lat)
			if res.errors == 0 && errs > 0 {
				res.firstError = first
			}
			res.errors += errs
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}

func runEndToEnd(ctx context.Context, cfg Config, w io.Writer) ([]EndToEndResult, error) {
	l := load{clients: max(cfg.LoadClients, 1), duration: cfg.LoadDuration, limit: cfg.LoadRequests}
	if l.duration <= 0 {
		l.duration = time.Second
	}
	var results []EndToEndResult
	for _, face := range endToEndFaces {
		r, err := runFace(ctx, face, cfg, l)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", face, err)
		}
		results = append(results, r)
	}
	printEndToEnd(w, l, results)
	return results, nil
}

// runFace measures one face: a client of its own with a command monitor,
// the seed app on a loopback listener, the load.
func runFace(ctx context.Context, face string, cfg Config, l load) (EndToEndResult, error) {
	meter := newWireMeter()
	client, err := mongo.Connect(options.Client().ApplyURI(cfg.URI).SetMonitor(meter.monitor()))
	if err != nil {
		return EndToEndResult{}, err
	}
	defer client.Disconnect(context.Background())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return EndToEndResult{}, err
	}
	stop, err := seedApp(ctx, face, client, cfg, ln)
	if err != nil {
		ln.Close()
		return EndToEndResult{}, err
	}
	defer func() {
		stop()
		_ = client.Database(cfg.Database).Collection("e2e_" + collName(face)).Drop(context.Background())
	}()

	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	cpu0 := processCPU()
	meter.take() // the store's setup (indexes) is not a request's
	lr := l.run(ctx, "http://"+ln.Addr().String()+"/")
	rd := meter.take()
	cpu := processCPU() - cpu0
	runtime.ReadMemStats(&m1)

	n := max(lr.requests, 1)
	return EndToEndResult{
		Face: face, Requests: lr.requests, Errors: lr.errors, FirstError: lr.firstError,
		Elapsed: lr.elapsed,
		P50:     time.Duration(quantile(lr.lat, 0.5)), P99: time.Duration(quantile(lr.lat, 0.99)),
		Commands:         rd.count,
		CPUPerRequest:    cpu / time.Duration(n),
		AllocsPerRequest: float64(m1.Mallocs-m0.Mallocs) / float64(n),
		BytesPerRequest:  float64(m1.TotalAlloc-m0.TotalAlloc) / float64(n),
	}, nil
}

func printEndToEnd(w io.Writer, l load, rs []EndToEndResult) {
	fmt.Fprintf(w, "## 5. End to end: the seed app under load\n\n")
	limit := ""
	if l.limit > 0 {
		limit = fmt.Sprintf(" or %d requests in all", l.limit)
	}
	fmt.Fprintf(w, "Each face's seed app (count a view, answer Hello {\"views\":N}) served in this process on 127.0.0.1; %d concurrent clients in this process, each with its own cookie jar, "+
		"send GET / one after the other for %s%s. Every answer is checked (status 200, N one more than the client's last). "+
		"Commands: counted by a command monitor on the face's store client, per request. CPU and allocations: this whole process (clients, HTTP server, face, driver) per request; the MongoDB server is another process.\n\n",
		l.clients, l.duration, limit)
	fmt.Fprintln(w, "| face | requests | req/s | p50 ms | p99 ms | errors | commands / request | CPU µs / request | allocs / request | heap KiB / request |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|")
	for _, r := range rs {
		fmt.Fprintf(w, "| %s | %d | %.0f | %s | %s | %d | %.2f (%s) | %.0f | %.0f | %s |\n",
			r.Face, r.Requests, r.RPS(), ms(r.P50), ms(r.P99), r.Errors,
			r.CommandsPerRequest(), wireReading{count: r.Commands}.perRequest(r.Requests),
			float64(r.CPUPerRequest)/1e3, r.AllocsPerRequest, kib(r.BytesPerRequest))
	}
	fmt.Fprintln(w)
	for _, r := range rs {
		if r.Errors > 0 {
			fmt.Fprintf(w, "%s: %d errors; the first: %s\n\n", r.Face, r.Errors, r.FirstError)
		}
	}
}
