// Command gorilla is the seed app on gorilla/sessions: a net/http server
// whose sessions live in MongoDB through gorillastore. Each visit counts a
// view and answers Hello {"views":N}.
//
//	go run ./examples/gorilla            # embedded server, data in examples/gorilla/data
//	MONGODB_URI=mongodb://localhost:27017/app go run ./examples/gorilla
//	SESSION_KEY=$(openssl rand -base64 32) go run ./examples/gorilla   # signed cookies
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/gorillastore"
	"github.com/mongosession/mongosession/testserver"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "3000"
	}
	addr := flag.String("addr", ":"+port, "address to listen on (or set PORT)")
	data := flag.String("data", defaultDataDir(), "data directory of the embedded server, used when MONGODB_URI is unset")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr, *data); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, addr, dataDir string) error {
	// SESSION_KEY signs the cookie: 32 or more random bytes in base64, as
	// `openssl rand -base64 32` prints them. Without it the cookie carries
	// the bare session ID, 256 random bits.
	var keys [][]byte
	if s := os.Getenv("SESSION_KEY"); s != "" {
		key, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(key) < 32 {
			return errors.New("SESSION_KEY: want 32 or more random bytes in base64 (openssl rand -base64 32)")
		}
		keys = append(keys, key)
	}

	uri, stopServer, err := testserver.URIFromEnv(ctx, dataDir, os.Stdout)
	if err != nil {
		return err
	}
	defer stopServer()

	store, err := mongosession.New(ctx, mongosession.Options{
		URI:        uri,
		Database:   "connect_mongodb_session_test",
		Collection: "gorillaSessions",
		Expires:    7 * 24 * time.Hour,
		OnError:    func(err error) { log.Println(err) },
	})
	if err != nil {
		return err // cannot reach MongoDB: fail at start
	}
	defer store.Close()

	srv := &http.Server{Handler: newApp(gorillastore.New(store, keys...)), ReadHeaderTimeout: 10 * time.Second}
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

// newApp counts views in the session and answers with the session as JSON.
func newApp(sessions *gorillastore.Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		session, err := sessions.Get(r, "session")
		if err != nil { // MongoDB failed: the session could not be loaded
			log.Println(err)
			http.Error(w, "session unavailable", http.StatusInternalServerError)
			return
		}
		views, _ := session.Values["views"].(int)
		views++
		session.Values["views"] = views
		if err := session.Save(r, w); err != nil {
			log.Println(err)
			http.Error(w, "session unavailable", http.StatusInternalServerError)
			return
		}
		body, _ := json.Marshal(map[string]int{"views": views})
		fmt.Fprintf(w, "Hello %s", body)
	})
}

// defaultDataDir is examples/gorilla/data when run from the repository
// root or from the example's directory.
func defaultDataDir() string {
	if _, err := os.Stat(filepath.Join("examples", "gorilla")); err == nil {
		return filepath.Join("examples", "gorilla", "data")
	}
	return "data"
}
