// Command node-migration is the Go half of a login shared with an Express
// app (node/server.js): the Express app logs users in and keeps its
// sessions in MongoDB through connect-mongodb-session; this service reads
// and writes the very same sessions through nodesession, so a user logged
// in on one is logged in on the other.
//
//	go run .                       # embedded server on 127.0.0.1:27018, Go service on :8080
//	cd node && npm install && npm start   # the Express app on :3000, same database
//
// With MONGODB_URI set, both use that server instead. Set SESSION_SECRET,
// the same on both, outside a demo.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/exampleserver"
	"github.com/mongosession/mongosession/nodesession"
	"github.com/mongosession/mongosession/testserver"
)

// The Express app's settings (node/server.js): keep them in step.
var (
	database   = "node_migration"
	collection = "sessions"
	secrets    = []string{envOr("SESSION_SECRET", defaultSecret)}
	// expressOrigin is where the Express app's pages come from: the only
	// other origin whose POSTs this service accepts.
	expressOrigin = envOr("EXPRESS_ORIGIN", "http://localhost:3000")
)

// defaultSecret lets `go run .` work out of the box; anyone who knows it
// can forge a session cookie.
const defaultSecret = "keyboard cat"

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func main() {
	addr := flag.String("addr", ":8080", "address of the Go service")
	mongoAddr := flag.String("mongo-addr", "127.0.0.1:27018", "address of the embedded server, used when MONGODB_URI is unset")
	data := flag.String("data", "data", "data directory of the embedded server")
	flag.Parse()
	exampleserver.Run(func(ctx context.Context) error { return run(ctx, *addr, *mongoAddr, *data) })
}

func run(ctx context.Context, addr, mongoAddr, dataDir string) error {
	if secrets[0] == defaultSecret {
		log.Printf("WARNING: SESSION_SECRET is not set: cookies are signed with the public default %q, and anyone can forge a session. Set SESSION_SECRET (the same on the Express app) for anything but this demo.", defaultSecret)
	}
	uri := os.Getenv("MONGODB_URI")
	if uri == "" {
		srv, err := testserver.Start(ctx, testserver.Config{Dir: dataDir, Addr: mongoAddr})
		if err != nil {
			return err
		}
		defer srv.Close()
		uri = srv.URI()
		fmt.Printf("MONGODB_URI is not set: started an embedded server (FerretDB) at %s; start the Express app with the same URI\n", uri)
	}
	store, err := mongosession.New(ctx, mongosession.Options{
		URI: uri, Database: database, Collection: collection,
		PlainIDs: true, // the Express app looks sessions up by the plain id
		OnError:  func(err error) { log.Println(err) },
	})
	if err != nil {
		return err
	}
	defer store.Close()

	sessions, err := nodesession.New(nodesession.Options{
		Store:  store,
		Cookie: nodesession.ExpressCookie{Secrets: secrets, MaxAge: 24 * time.Hour, SameSite: "lax"},
		Layout: nodesession.ConnectMongoDBSession{},
	})
	if err != nil {
		return err
	}

	handler, err := newHandler(sessions, expressOrigin)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	fmt.Println("Go service: GET /api/me, POST /api/visit, POST /api/logout (log in on the Express app first)")
	return exampleserver.ListenAndServe(ctx, addr, srv)
}

// newHandler is the whole service: the cross-origin check, the shared
// sessions, the routes. The check refuses the state-changing requests
// (POST) that a browser sends from another site's page; the Express app
// is another origin here (another port), so it is trusted by name. Behind
// one domain, as in production, it is the same origin and needs no entry.
func newHandler(sessions *nodesession.Manager, expressOrigin string) (http.Handler, error) {
	cop := http.NewCrossOriginProtection()
	if err := cop.AddTrustedOrigin(expressOrigin); err != nil {
		return nil, fmt.Errorf("EXPRESS_ORIGIN: %w", err)
	}
	return cop.Handler(sessions.Handler(routes())), nil
}

func routes() http.Handler {
	mux := http.NewServeMux()
	// /api/me shows who is logged in, as the Express app set it.
	mux.HandleFunc("GET /api/me", func(w http.ResponseWriter, r *http.Request) {
		s := nodesession.FromContext(r.Context())
		user, ok := s.String("user")
		if !ok {
			http.Error(w, `{"error":"not logged in"}`, http.StatusUnauthorized)
			return
		}
		loginAt, _ := s.Time("loginAt")
		visits, _ := s.Int("goVisits")
		writeJSON(w, map[string]any{"user": user, "loginAt": loginAt, "goVisits": visits})
	})
	// /api/visit changes the shared session: the Express app sees the count.
	mux.HandleFunc("POST /api/visit", func(w http.ResponseWriter, r *http.Request) {
		s := nodesession.FromContext(r.Context())
		if _, ok := s.String("user"); !ok {
			http.Error(w, `{"error":"not logged in"}`, http.StatusUnauthorized)
			return
		}
		n, _ := s.Int("goVisits")
		if err := s.Set("goVisits", n+1); err != nil {
			log.Println("visit:", err)
			http.Error(w, `{"error":"the session could not be changed"}`, http.StatusInternalServerError)
			return
		}
		writeJSON(w, map[string]any{"goVisits": n + 1})
	})
	// /api/logout logs out on both sides.
	mux.HandleFunc("POST /api/logout", func(w http.ResponseWriter, r *http.Request) {
		if err := nodesession.FromContext(r.Context()).Destroy(); err != nil {
			log.Println("logout:", err)
			http.Error(w, `{"error":"logout failed"}`, http.StatusInternalServerError)
			return
		}
		writeJSON(w, map[string]any{"ok": true})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
