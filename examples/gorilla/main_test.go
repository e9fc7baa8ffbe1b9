package main

import (
	"os"
	"testing"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/gorillastore"
	"github.com/mongosession/mongosession/internal/facetest"
	"github.com/mongosession/mongosession/internal/mongotest"
)

func TestMain(m *testing.M) { os.Exit(mongotest.Main(m)) }

// TestViews drives the example's app against the test server with a
// cookie jar: the count goes up with the session cookie and starts again
// without it.
func TestViews(t *testing.T) {
	store := mongotest.NewStore(t, mongosession.Options{})
	facetest.SeedApp(t, newApp(gorillastore.New(store, []byte("a test key of thirty-two bytes!!"))), store)
}
