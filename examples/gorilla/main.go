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
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/gorillastore"
	"github.com/mongosession/mongosession/internal/exampleserver"
	"github.com/mongosession/mongosession/testserver"
)

func main() {
	flags := exampleserver.ParseFlags("gorilla")
	exampleserver.Run(func(ctx context.Context) error { return run(ctx, flags) })
}

func run(ctx context.Context, flags exampleserver.Flags) error {
	// SESSION_KEY signs the cookie: 32 or more random bytes in base64, as
	// `openssl rand -base64 32` prints them. Without it the cookie carries
	// the bare session ID, 256 random bits. Either way the collection keeps
	// only its SHA-256 (mongosession's default): a copy of it holds no
	// working cookie.
	keys, err := exampleserver.SessionKeys()
	if err != nil {
		return err
	}

	uri, stopServer, err := testserver.URIFromEnv(ctx, flags.Data, os.Stdout)
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
	return exampleserver.ListenAndServe(ctx, flags.Addr, srv)
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
