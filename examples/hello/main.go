// Command hello is the seed app of connect-mongodb-session, in Go: an
// net/http server whose sessions live in MongoDB through mongosession and
// alexedwards/scs. Each visit counts a view and answers Hello {"views":N}.
//
//	go run ./examples/hello            # embedded server, data in examples/hello/data
//	MONGODB_URI=mongodb://localhost:27017/app go run ./examples/hello
//	go run ./examples/hello -debug     # also serve expvar at /debug/vars
//
// -debug (off by default) serves expvar's /debug/vars (memstats, cmdline
// and a goroutine count) on the app's own server; -debug=ADDR serves it on
// a second address instead, such as 127.0.0.1:6060. cmd/mongosession-soak
// reads it.
package main

import (
	"context"
	"encoding/json"
	"expvar"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/testserver"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "3000"
	}
	addr := flag.String("addr", ":"+port, "address to listen on (or set PORT)")
	data := flag.String("data", defaultDataDir(), "data directory of the embedded server, used when MONGODB_URI is unset")
	flag.Var(&debug, "debug", "serve expvar at /debug/vars on the app's server (-debug) or on a second address (-debug=ADDR)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *data); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, addr, dataDir string) error {
	uri, stopServer, err := testserver.URIFromEnv(ctx, dataDir, os.Stdout)
	if err != nil {
		return err
	}
	defer stopServer()

	store, err := mongosession.New(ctx, mongosession.Options{
		URI:        uri,
		Database:   "connect_mongodb_session_test",
		Collection: "mySessions",
		OnError:    func(err error) { log.Println(err) },
	})
	if err != nil {
		return err // cannot reach MongoDB: fail at start, like the Node store
	}
	defer store.Close()

	sm := scs.New()
	// Served over HTTPS (directly or behind a proxy), also set
	// sm.Cookie.Secure = true, so the cookie never travels in clear text.
	sm.Store = store
	sm.Lifetime = 7 * 24 * time.Hour

	app := sm.LoadAndSave(handler(sm))
	if debug.on && debug.addr == "" {
		mux := http.NewServeMux()
		mux.Handle("/debug/vars", expvar.Handler())
		mux.Handle("/", app)
		app = mux
	}
	srv := &http.Server{Handler: app, ReadHeaderTimeout: 10 * time.Second}
	if debug.on {
		expvar.Publish("goroutines", expvar.Func(func() any { return runtime.NumGoroutine() }))
	}
	if debug.addr != "" {
		mux := http.NewServeMux()
		mux.Handle("/debug/vars", expvar.Handler())
		dsrv := &http.Server{Addr: debug.addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		defer dsrv.Close() // expvar only: nothing to drain
		go func() {
			if err := dsrv.ListenAndServe(); err != http.ErrServerClosed {
				log.Println("debug server:", err)
			}
		}()
		fmt.Printf("expvar on http://%s/debug/vars\n", debug.addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Printf("listening on %s\n", addr)
	return serve(ctx, srv, ln)
}

// serve serves srv on ln until ctx is done, then stops accepting and
// waits up to 5 s for the requests in flight to finish: run's deferred
// store.Close must come after them.
func serve(ctx context.Context, srv *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// debugFlag is -debug: a boolean flag that may also carry an address.
type debugFlag struct {
	on   bool
	addr string
}

var debug debugFlag

func (d *debugFlag) String() string {
	if d == nil || !d.on {
		return "false"
	}
	if d.addr == "" {
		return "true"
	}
	return d.addr
}

func (d *debugFlag) Set(v string) error {
	switch v {
	case "true":
		d.on, d.addr = true, ""
	case "false":
		d.on, d.addr = false, ""
	default:
		d.on, d.addr = true, v
	}
	return nil
}

// IsBoolFlag lets -debug stand alone.
func (d *debugFlag) IsBoolFlag() bool { return true }

// handler counts views in the session and answers with the session as JSON.
func handler(sm *scs.SessionManager) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		views := sm.GetInt(r.Context(), "views") + 1
		sm.Put(r.Context(), "views", views)
		body, _ := json.Marshal(map[string]int{"views": views})
		fmt.Fprintf(w, "Hello %s", body)
	})
}

// defaultDataDir is examples/hello/data when run from the repository root
// or from the example's directory.
func defaultDataDir() string {
	if _, err := os.Stat(filepath.Join("examples", "hello")); err == nil {
		return filepath.Join("examples", "hello", "data")
	}
	return "data"
}
