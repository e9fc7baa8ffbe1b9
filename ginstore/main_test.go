package ginstore_test

import (
	"io"
	"log/slog"
	"net/http"
	"os"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/browsertest"
	"github.com/mongosession/mongosession/internal/mongotest"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	os.Exit(mongotest.Main(m))
}

// newMongoStore opens a store on a fresh collection through a client
// whose data commands are recorded.
func newMongoStore(t *testing.T) (*mongosession.Store, *mongotest.Commands) {
	t.Helper()
	cmds := mongotest.DataCommands()
	s := mongotest.NewRecordedStore(t, mongosession.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, cmds)
	return s, cmds
}

// newBrowser serves h until the test ends and returns a browser of it
// whose session cookie is "session".
func newBrowser(t *testing.T, h http.Handler) *browsertest.Browser {
	return browsertest.New(t, h, "session")
}
