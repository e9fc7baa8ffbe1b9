package main

import (
	"os"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/ginstore"
	"github.com/mongosession/mongosession/internal/facetest"
	"github.com/mongosession/mongosession/internal/mongotest"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	os.Exit(mongotest.Main(m))
}

// TestViews drives the example's app against the test server with a
// cookie jar: the count goes up with the session cookie and starts again
// without it.
func TestViews(t *testing.T) {
	store := mongotest.NewStore(t, mongosession.Options{})
	facetest.SeedApp(t, newApp(ginstore.New(store, []byte("a test key of thirty-two bytes!!"))), store)
}
