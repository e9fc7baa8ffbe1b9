package main

import (
	"os"
	"testing"

	"github.com/alexedwards/scs/v2"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/facetest"
	"github.com/mongosession/mongosession/internal/mongotest"
)

func TestMain(m *testing.M) { os.Exit(mongotest.Main(m)) }

// TestHelloCountsViews drives the example's handler, with scs and a
// mongosession store on the test server, as a browser would: the count
// goes up with the session cookie and starts again without it.
func TestHelloCountsViews(t *testing.T) {
	store := mongotest.NewStore(t, mongosession.Options{})
	sm := scs.New()
	sm.Store = store
	facetest.SeedApp(t, sm.LoadAndSave(handler(sm)), store)
}
