// Command gin is the seed app on gin: gin-contrib/sessions keeps its
// sessions in MongoDB through ginstore. Each visit counts a view and
// answers Hello {"views":N}.
//
//	go run ./examples/gin            # embedded server, data in examples/gin/data
//	MONGODB_URI=mongodb://localhost:27017/app go run ./examples/gin
//	SESSION_KEY=$(openssl rand -base64 32) go run ./examples/gin   # signed cookies
package main

import (
	"context"
	"encoding/json"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/gin-contrib/sessions"
	"github.com/gin-gonic/gin"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/ginstore"
	"github.com/mongosession/mongosession/internal/exampleserver"
	"github.com/mongosession/mongosession/testserver"
)

func main() {
	flags := exampleserver.ParseFlags("gin")
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
		Collection: "ginSessions",
		Expires:    7 * 24 * time.Hour,
		OnError:    func(err error) { log.Println(err) },
	})
	if err != nil {
		return err // cannot reach MongoDB: fail at start
	}
	defer store.Close()

	srv := &http.Server{Handler: newApp(ginstore.New(store, keys...)), ReadHeaderTimeout: 10 * time.Second}
	return exampleserver.ListenAndServe(ctx, flags.Addr, srv)
}

// newApp is the whole app: gin-contrib's session middleware on store, and
// a handler that counts views and answers with the session as JSON.
func newApp(store sessions.Store) *gin.Engine {
	r := gin.Default()
	r.Use(sessions.Sessions("session", store))
	r.GET("/", func(c *gin.Context) {
		session := sessions.Default(c)
		views, _ := session.Get("views").(int)
		views++
		session.Set("views", views)
		if err := session.Save(); err != nil { // MongoDB failed
			c.String(http.StatusInternalServerError, "session unavailable")
			return
		}
		body, _ := json.Marshal(map[string]int{"views": views})
		c.String(http.StatusOK, "Hello %s", body)
	})
	return r
}
