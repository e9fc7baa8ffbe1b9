// Command hello is the seed app of connect-mongodb-session, in Go: an
// net/http server whose sessions live in MongoDB through mongosession and
// alexedwards/scs. Each visit counts a view and answers Hello {"views":N}.
//
//	go run ./examples/hello            # embedded server, data in examples/hello/data
//	MONGODB_URI=mongodb://localhost:27017/app go run ./examples/hello
//	go run ./examples/hello -debug     # also serve expvar on 127.0.0.1:6060/debug/vars
//
// -debug (off by default) serves expvar's /debug/vars (memstats, cmdline
// and a goroutine count) on a second server of its own, on a loopback
// address only: 127.0.0.1:6060, or -debug=ADDR (such as 127.0.0.1:7070 or
// [::1]:6060). It is never served on the app's own listener, and an ADDR
// that is not loopback is refused. cmd/mongosession-soak reads it:
//
//	go run ./cmd/mongosession-soak -vars http://127.0.0.1:6060/debug/vars
//
// While MongoDB is out of reach, requests get 503 (scs's ErrorFunc, below).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"expvar"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/exampleserver"
	"github.com/mongosession/mongosession/testserver"
)

func main() {
	flag.Var(&debug, "debug", "serve expvar at /debug/vars on "+defaultDebugAddr+" (-debug) or on another loopback address (-debug=ADDR)")
	flags := exampleserver.ParseFlags("hello")
	exampleserver.Run(func(ctx context.Context) error { return run(ctx, flags) })
}

func run(ctx context.Context, flags exampleserver.Flags) error {
	if debug.on {
		stopDebug, err := serveDebug(debug.addr)
		if err != nil {
			return err
		}
		defer stopDebug()
	}

	uri, stopServer, err := testserver.URIFromEnv(ctx, flags.Data, os.Stdout)
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

	srv := &http.Server{Handler: newApp(store), ReadHeaderTimeout: 10 * time.Second}
	return exampleserver.ListenAndServe(ctx, flags.Addr, srv)
}

// defaultDebugAddr is where -debug alone serves expvar.
const defaultDebugAddr = "127.0.0.1:6060"

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
	return d.addr
}

func (d *debugFlag) Set(v string) error {
	switch v {
	case "true":
		d.on, d.addr = true, defaultDebugAddr
	case "false":
		d.on, d.addr = false, ""
	default:
		d.on, d.addr = true, v
	}
	return nil
}

// IsBoolFlag lets -debug stand alone.
func (d *debugFlag) IsBoolFlag() bool { return true }

// serveDebug serves expvar's /debug/vars, with a goroutine count, on addr,
// which must be a loopback address (the bound one is checked, so ":6060"
// or a name that resolves elsewhere is refused): memstats and the command
// line are for the operator, not for the app's visitors. stop closes it.
func serveDebug(addr string) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-debug: %w", err)
	}
	if a, ok := ln.Addr().(*net.TCPAddr); !ok || !a.IP.IsLoopback() {
		ln.Close()
		return nil, fmt.Errorf("-debug=%s: not a loopback address; expvar is served on loopback only (such as %s)", addr, defaultDebugAddr)
	}
	publishGoroutines.Do(func() {
		expvar.Publish("goroutines", expvar.Func(func() any { return runtime.NumGoroutine() }))
	})
	mux := http.NewServeMux()
	mux.Handle("/debug/vars", expvar.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != http.ErrServerClosed {
			log.Println("debug server:", err)
		}
	}()
	fmt.Printf("expvar on http://%s/debug/vars\n", ln.Addr())
	return func() { srv.Close() }, nil // expvar only: nothing to drain
}

// publishGoroutines publishes the goroutine count once: expvar.Publish
// panics on a second call with the same name.
var publishGoroutines sync.Once

// newApp is the whole app on store: scs with a week's lifetime, and
// handler. While MongoDB is out of reach, scs's ErrorFunc answers 503
// (scs's default would be a 500); any other store error is a bare 500.
// Neither shows the error's text, which names the database's host.
func newApp(store *mongosession.Store) http.Handler {
	sm := scs.New()
	// Served over HTTPS (directly or behind a proxy), also set
	// sm.Cookie.Secure = true, so the cookie never travels in clear text.
	sm.Store = store
	sm.Lifetime = 7 * 24 * time.Hour
	sm.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) {
		log.Printf("%s %s: %v", r.Method, r.URL.Path, err)
		code := http.StatusInternalServerError
		if errors.Is(err, mongosession.ErrUnavailable) {
			code = http.StatusServiceUnavailable
		}
		http.Error(w, http.StatusText(code), code)
	}
	return sm.LoadAndSave(handler(sm))
}

// handler counts views in the session and answers with the session as JSON.
func handler(sm *scs.SessionManager) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		views := sm.GetInt(r.Context(), "views") + 1
		sm.Put(r.Context(), "views", views)
		body, _ := json.Marshal(map[string]int{"views": views})
		fmt.Fprintf(w, "Hello %s", body)
	})
}
