// Command fiber is the seed app on gofiber/fiber v3: fiber's session
// middleware keeps its sessions in MongoDB through fiberstore. Each visit
// counts a view and answers Hello {"views":N}.
//
//	go run ./examples/fiber            # embedded server, data in examples/fiber/data
//	MONGODB_URI=mongodb://localhost:27017/app go run ./examples/fiber
package main

import (
	"context"
	"encoding/json"
	"errors"
	"log"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/gofiber/fiber/v3"
	"github.com/gofiber/fiber/v3/middleware/recover"
	"github.com/gofiber/fiber/v3/middleware/session"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/fiberstore"
	"github.com/mongosession/mongosession/internal/exampleserver"
	"github.com/mongosession/mongosession/testserver"
)

func main() {
	flags := exampleserver.ParseFlags("fiber")
	exampleserver.Run(func(ctx context.Context) error { return run(ctx, flags) })
}

func run(ctx context.Context, flags exampleserver.Flags) error {
	uri, stopServer, err := testserver.URIFromEnv(ctx, flags.Data, os.Stdout)
	if err != nil {
		return err
	}
	defer stopServer()

	store, err := mongosession.New(ctx, mongosession.Options{
		URI:        uri,
		Database:   "connect_mongodb_session_test",
		Collection: "fiberSessions",
		OnError:    func(err error) { log.Println(err) },
	})
	if err != nil {
		return err // cannot reach MongoDB: fail at start
	}
	storage := fiberstore.New(store)
	defer storage.Close() // closes store too

	return exampleserver.ListenAndServe(ctx, flags.Addr, fiberServer{newApp(storage)})
}

// fiberServer is a fiber app as exampleserver serves it. ShutdownWithContext
// returns once the requests in flight have been answered (Listen's
// GracefulContext, by contrast, shuts down in the background: Listen returns
// before they finish, and run's deferred storage.Close would come too early).
type fiberServer struct{ *fiber.App }

func (s fiberServer) Serve(ln net.Listener) error { return s.Listener(ln) }

func (s fiberServer) Shutdown(ctx context.Context) error { return s.ShutdownWithContext(ctx) }

// newApp is the whole app: fiber's session middleware on storage, and a
// handler that counts views and answers with the session as JSON.
func newApp(storage fiber.Storage) *fiber.App {
	// fiber's default ErrorHandler sends err.Error() to the client, and a
	// store error names the database host: answer with errorHandler instead.
	app := fiber.New(fiber.Config{ErrorHandler: errorHandler})
	app.Use(recover.New()) // the session middleware panics when MongoDB is down: errorHandler answers
	app.Use(session.New(session.Config{
		Storage:        storage,
		IdleTimeout:    7 * 24 * time.Hour,
		CookieHTTPOnly: true,
		// a failed save after the handler: the same answers
		ErrorHandler: func(c fiber.Ctx, err error) { _ = errorHandler(c, err) },
	}))
	app.Get("/", func(c fiber.Ctx) error {
		sess := session.FromContext(c)
		views, _ := sess.Get("views").(int)
		views++
		sess.Set("views", views)
		body, _ := json.Marshal(map[string]int{"views": views})
		return c.SendString("Hello " + string(body))
	})
	return app
}

// errorHandler logs err and answers with the status text alone, never
// the error's text: a *fiber.Error gives its code (its message may quote
// the raw request, HttpOnly cookie included, as fasthttp's does for a
// request it cannot parse), MongoDB out of reach is 503, anything else
// 500.
func errorHandler(c fiber.Ctx, err error) error {
	code := fiber.StatusInternalServerError
	var fe *fiber.Error
	switch {
	case errors.As(err, &fe):
		code = fe.Code
	case errors.Is(err, mongosession.ErrUnavailable):
		code = fiber.StatusServiceUnavailable
	}
	if code >= fiber.StatusInternalServerError {
		log.Printf("%s %s: %v", c.Method(), c.Path(), err)
	}
	c.Set(fiber.HeaderContentType, fiber.MIMETextPlainCharsetUTF8)
	return c.Status(code).SendString(http.StatusText(code))
}
