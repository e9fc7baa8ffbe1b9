package bench

import (
	"fmt"
	"io"
	"os"

	"github.com/mongosession/mongosession/internal/mongotest"
)

// startEmbedded starts the repository's test server as a subprocess with
// its data in a temporary directory removed by stop.
func startEmbedded(w io.Writer) (uri string, stop func(), err error) {
	dir, err := os.MkdirTemp("", "mongosession-bench-")
	if err != nil {
		return "", nil, err
	}
	srv, err := mongotest.StartServer(dir, "127.0.0.1:0")
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("starting the test server: %w", err)
	}
	fmt.Fprintf(w, "server: MONGODB_URI is not set; started the embedded test server (FerretDB 1.24, SQLite) as its own process at %s\n", srv.URI)
	return srv.URI, func() {
		srv.Stop()
		os.RemoveAll(dir)
	}, nil
}
