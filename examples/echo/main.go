// Command echo is the seed app on labstack/echo v4: echo-contrib's session
// middleware keeps its sessions in MongoDB through gorillastore. Each visit
// counts a view and answers Hello {"views":N}.
//
//	go run ./examples/echo            # embedded server, data in examples/echo/data
//	MONGODB_URI=mongodb://localhost:27017/app go run ./examples/echo
//	SESSION_KEY=$(openssl rand -base64 32) go run ./examples/echo   # signed cookies
package main

import (
	"context"
	"encoding/json"
	"errors"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/labstack/echo-contrib/session"
	"github.com/labstack/echo/v4"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/gorillastore"
	"github.com/mongosession/mongosession/internal/exampleserver"
	"github.com/mongosession/mongosession/testserver"
)

func main() {
	flags := exampleserver.ParseFlags("echo")
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
		Collection: "echoSessions",
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

// newApp is the whole app: echo-contrib's session middleware on sessions,
// and a handler that counts views and answers with the session as JSON.
func newApp(sessions *gorillastore.Store) *echo.Echo {
	e := echo.New()
	e.HideBanner = true
	e.Use(session.Middleware(sessions))
	e.GET("/", func(c echo.Context) error {
		sess, err := session.Get("session", c)
		if err != nil { // MongoDB failed: the session could not be loaded
			return sessionError(err)
		}
		views, _ := sess.Values["views"].(int)
		views++
		sess.Values["views"] = views
		if err := sess.Save(c.Request(), c.Response()); err != nil {
			return sessionError(err)
		}
		body, _ := json.Marshal(map[string]int{"views": views})
		return c.String(http.StatusOK, "Hello "+string(body))
	})
	return e
}

// sessionError logs err, which echo's DefaultHTTPErrorHandler would not,
// and answers without its text: 503 while MongoDB is out of reach, 500
// otherwise.
func sessionError(err error) error {
	log.Println("session:", err)
	code := http.StatusInternalServerError
	if errors.Is(err, mongosession.ErrUnavailable) {
		code = http.StatusServiceUnavailable
	}
	return echo.NewHTTPError(code).SetInternal(err)
}
