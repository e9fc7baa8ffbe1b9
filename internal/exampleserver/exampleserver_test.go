package exampleserver

import (
	"bytes"
	"context"
	"encoding/base64"
	"flag"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mongosession/mongosession/internal/servetest"
)

// TestServeWaitsForRequests: when ctx ends, Serve returns only after the
// request in flight has been answered, so the store an example closes
// after it outlives the request.
func TestServeWaitsForRequests(t *testing.T) {
	servetest.WaitsForRequests(t, func(ctx context.Context, ln net.Listener, handle func() string) error {
		return Serve(ctx, &http.Server{Handler: servetest.HTTPHandler(handle)}, ln)
	})
}

// TestServeReturnsServeError: a server that stops on its own (its
// listener closed) ends Serve with that error, without waiting for ctx.
func TestServeReturnsServeError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if err := Serve(context.Background(), &http.Server{}, ln); err == nil {
		t.Fatal("Serve on a closed listener returned nil; want its error")
	}
}

// TestFlagDefaults: -addr follows PORT (":3000" without it); -data is
// examples/NAME/data from the repository root, data from the example's
// folder; both can be set on the command line.
func TestFlagDefaults(t *testing.T) {
	parse := func(args ...string) Flags {
		t.Helper()
		var f Flags
		fs := flag.NewFlagSet("example", flag.ContinueOnError)
		f.define(fs, "gorilla")
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return f
	}
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "examples", "gorilla"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(root)
	t.Setenv("PORT", "")
	if f := parse(); f.Addr != ":3000" || f.Data != filepath.Join("examples", "gorilla", "data") {
		t.Errorf("defaults from the repository root = %+v; want :3000 and examples/gorilla/data", f)
	}
	t.Chdir(filepath.Join(root, "examples", "gorilla"))
	t.Setenv("PORT", "8080")
	if f := parse(); f.Addr != ":8080" || f.Data != "data" {
		t.Errorf("defaults in the example's folder with PORT=8080 = %+v; want :8080 and data", f)
	}
	if f := parse("-addr", "127.0.0.1:9000", "-data", "/tmp/x"); f.Addr != "127.0.0.1:9000" || f.Data != "/tmp/x" {
		t.Errorf("flags given = %+v; want them", f)
	}
}

// TestSessionKeys: none without SESSION_KEY; the decoded key with one of 32
// or more bytes; an error that names SESSION_KEY, not its value, for a
// short or malformed one.
func TestSessionKeys(t *testing.T) {
	t.Setenv("SESSION_KEY", "")
	if keys, err := SessionKeys(); keys != nil || err != nil {
		t.Fatalf("SessionKeys() without SESSION_KEY = %v, %v; want none", keys, err)
	}
	key := bytes.Repeat([]byte{7}, 32)
	t.Setenv("SESSION_KEY", base64.StdEncoding.EncodeToString(key))
	if keys, err := SessionKeys(); err != nil || len(keys) != 1 || !bytes.Equal(keys[0], key) {
		t.Fatalf("SessionKeys() = %v, %v; want the one key", keys, err)
	}
	for _, bad := range []string{base64.StdEncoding.EncodeToString(key[:31]), "not base64 at all!"} {
		t.Setenv("SESSION_KEY", bad)
		keys, err := SessionKeys()
		if err == nil || keys != nil || !strings.Contains(err.Error(), "SESSION_KEY") || strings.Contains(err.Error(), bad) {
			t.Errorf("SessionKeys() with SESSION_KEY=%q = %v, %v; want an error naming SESSION_KEY, without the value", bad, keys, err)
		}
	}
}
