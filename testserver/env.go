package testserver

import (
	"context"
	"fmt"
	"io"
	"os"
)

// URIFromEnv is how the examples find their database: MONGODB_URI when it
// is set, else an embedded server started here with its data in dataDir
// (created if missing), so that sessions survive a restart of the program.
// It says which on w. stop releases the embedded server and is a no-op for
// MONGODB_URI.
func URIFromEnv(ctx context.Context, dataDir string, w io.Writer) (uri string, stop func(), err error) {
	if uri := os.Getenv("MONGODB_URI"); uri != "" {
		fmt.Fprintln(w, "using the MongoDB server named by MONGODB_URI")
		return uri, func() {}, nil
	}
	srv, err := Start(ctx, Config{Dir: dataDir})
	if err != nil {
		return "", nil, err
	}
	fmt.Fprintf(w, "MONGODB_URI is not set: started an embedded MongoDB-compatible server (FerretDB 1.24, SQLite) at %s with its data in %s; sessions survive restarts\n", srv.URI(), dataDir)
	return srv.URI(), func() { _ = srv.Close() }, nil
}
