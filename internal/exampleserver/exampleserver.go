// Package exampleserver is the plumbing the runnable examples share, so
// that each example's main.go shows its framework and its store and little
// else: the common flags, a context that ends on Ctrl-C or SIGTERM, and
// serving with a graceful shutdown that lets the requests in flight finish
// before the example closes its store; and the cookie key of the examples
// on gorilla/sessions.
//
// Only this repository's examples import it. It imports nothing but the
// standard library, so the root module, whose internal folder holds it,
// gains no dependency (see buildlist_test.go). The database comes from
// testserver.URIFromEnv (MONGODB_URI, or the embedded test server).
package exampleserver

import (
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// Flags are the command-line flags every example takes.
type Flags struct {
	// Addr is -addr, the address to listen on. Default ":" + $PORT, or
	// ":3000" when PORT is unset.
	Addr string

	// Data is -data, the data directory of the embedded test server, used
	// when MONGODB_URI is unset. Default examples/NAME/data when run from
	// the repository root (go run ./examples/NAME), else data (go run .
	// in the example's folder).
	Data string
}

// ParseFlags defines -addr and -data for the example called name (its
// folder under examples/), parses the command line and returns them.
// Define the example's own flags before calling it.
func ParseFlags(name string) Flags {
	var f Flags
	f.define(flag.CommandLine, name)
	flag.Parse()
	return f
}

// define defines -addr and -data on fs, writing to f.
func (f *Flags) define(fs *flag.FlagSet, name string) {
	port := os.Getenv("PORT")
	if port == "" {
		port = "3000"
	}
	fs.StringVar(&f.Addr, "addr", ":"+port, "address to listen on (or set PORT)")
	fs.StringVar(&f.Data, "data", defaultDataDir(name), "data directory of the embedded server, used when MONGODB_URI is unset")
}

// defaultDataDir is examples/name/data when run from the repository root
// or data from the example's own folder.
func defaultDataDir(name string) string {
	if _, err := os.Stat(filepath.Join("examples", name)); err == nil {
		return filepath.Join("examples", name, "data")
	}
	return "data"
}

// SessionKeys returns the cookie keys of the examples on gorilla/sessions
// (gorilla, echo, gin): SESSION_KEY, 32 or more random bytes in base64 as
// `openssl rand -base64 32` prints them, or none when it is unset. A
// SESSION_KEY that is not such is an error that names it (never its value).
func SessionKeys() ([][]byte, error) {
	s := os.Getenv("SESSION_KEY")
	if s == "" {
		return nil, nil
	}
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(key) < 32 {
		return nil, errors.New("SESSION_KEY: want 32 or more random bytes in base64 (openssl rand -base64 32)")
	}
	return [][]byte{key}, nil
}

// Run calls run with a context that ends on SIGINT (Ctrl-C) or SIGTERM, and
// exits with status 1, the error logged, when run fails.
func Run(run func(ctx context.Context) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		log.Fatal(err)
	}
}

// Server is what Serve runs: an *http.Server, or an adapter to a
// framework's own server (examples/fiber has one for a *fiber.App).
type Server interface {
	// Serve accepts connections on ln until Shutdown.
	Serve(ln net.Listener) error
	// Shutdown stops accepting and returns once the requests in flight
	// have been answered, or with ctx's error when ctx ends first.
	Shutdown(ctx context.Context) error
}

// ShutdownTimeout bounds how long Serve waits, once its context has ended,
// for the requests in flight.
const ShutdownTimeout = 5 * time.Second

// ListenAndServe listens on addr, says so on stdout, and serves srv there
// until ctx ends (see Serve).
func ListenAndServe(ctx context.Context, addr string, srv Server) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Printf("listening on %s\n", addr)
	return Serve(ctx, srv, ln)
}

// Serve serves srv on ln until ctx is done, then stops accepting and waits
// up to ShutdownTimeout for the requests in flight to finish, so that a
// store the caller closes after Serve returns outlives them. It returns
// srv.Serve's error if serving stops on its own, the shutdown's error if
// the requests outlast ShutdownTimeout, and nil otherwise.
func Serve(ctx context.Context, srv Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
