// Command mongosession-testserver runs the test server (FerretDB 1.24 on
// SQLite) as a process of its own, so that tests built with -race do not
// instrument the server too.
//
// It prints the server's connection string as the first line of standard
// output once the server accepts connections, and runs until standard input
// is closed (the parent test process exited) or it receives SIGINT/SIGTERM.
//
//	mongosession-testserver -dir /tmp/data -addr 127.0.0.1:0
//	mongosession-testserver -postgresql postgres://postgres@127.0.0.1:54329/ferretdb -addr 127.0.0.1:27099
//
// With -postgresql, the data is kept in that PostgreSQL database instead of
// SQLite files (-dir is unused): a second server for MONGODB_URI.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mongosession/mongosession/testserver"
)

func main() {
	dir := flag.String("dir", "", "directory for the SQLite data (required)")
	addr := flag.String("addr", "127.0.0.1:0", "TCP address to listen on")
	pg := flag.String("postgresql", "", "keep the data in this PostgreSQL database (URL) instead of SQLite files in -dir")
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	srv, err := testserver.Start(ctx, testserver.Config{Dir: *dir, Addr: *addr, PostgreSQLURL: *pg})
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(srv.URI())

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	stdinClosed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()
	select {
	case <-stop:
	case <-stdinClosed:
	}
	if err := srv.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
