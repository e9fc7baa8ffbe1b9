package fiberstore_test

import (
	"context"
	"encoding/json"
	"log"
	"time"

	"github.com/gofiber/fiber/v3"
	"github.com/gofiber/fiber/v3/middleware/recover"
	"github.com/gofiber/fiber/v3/middleware/session"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/fiberstore"
)

// fiber's session middleware on MongoDB: the views counter of
// examples/fiber.
func ExampleNew() {
	ctx := context.Background()
	store, err := mongosession.New(ctx, mongosession.Options{
		URI:        "mongodb://localhost:27017",
		Database:   "app",
		Collection: "fiberSessions",
	})
	if err != nil {
		log.Fatal(err) // cannot reach MongoDB: fail at start
	}
	defer store.Close() // whoever calls mongosession.New closes the store
	storage := fiberstore.New(store)

	app := fiber.New()
	app.Use(recover.New()) // the session middleware panics when MongoDB is down: answer 500
	app.Use(session.New(session.Config{
		Storage:        storage,
		IdleTimeout:    7 * 24 * time.Hour,
		CookieHTTPOnly: true,
	}))
	app.Get("/", func(c fiber.Ctx) error {
		sess := session.FromContext(c)
		views, _ := sess.Get("views").(int)
		views++
		sess.Set("views", views)
		body, _ := json.Marshal(map[string]int{"views": views})
		return c.SendString("Hello " + string(body))
	})
	log.Fatal(app.Listen(":3000"))
}
