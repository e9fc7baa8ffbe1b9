// Package mongotest gives the tests of every module in this repository a
// MongoDB-compatible server: the one MONGODB_URI names, or else a test
// server (FerretDB 1.24, see ../../testserver) started as a separate
// process for the test binary's lifetime. The server runs in its own
// process so that tests built with -race instrument our code, not it.
//
// Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(mongotest.Main(m)) }
package mongotest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"
)

var (
	uri     string
	server  *Server
	counter atomic.Int64
)

// Main starts the test server if MONGODB_URI is unset, runs the tests (m
// is a *testing.M, or one wrapped to set up around its Run) and stops the
// server. It returns the exit code for os.Exit.
func Main(m interface{ Run() int }) int {
	uri = os.Getenv("MONGODB_URI")
	if uri == "" {
		dir, err := os.MkdirTemp("", "mongosession-test-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "mongotest:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		server, err = StartServer(dir, "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, "mongotest: starting the test server:", err)
			return 1
		}
		defer server.Stop()
		uri = server.URI
		// Examples (example_test.go) read MONGODB_URI as a user's program
		// would.
		os.Setenv("MONGODB_URI", uri)
	}
	return m.Run()
}

// URI returns the server's connection string. It fails the test when Main
// did not run.
func URI(tb testing.TB) string {
	tb.Helper()
	if uri == "" {
		tb.Fatal("mongotest: no server; call mongotest.Main from TestMain")
	}
	return uri
}

// Embedded reports whether the tests run against the test server started by
// Main (FerretDB 1.24) rather than one named by MONGODB_URI.
func Embedded() bool { return server != nil }

// CurrentServer returns the server Main started, or nil with MONGODB_URI.
func CurrentServer() *Server { return server }

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_]+`)

// runID tells this test binary run from others on the same server: CI
// containers reuse process ids, so the pid alone does not.
var runID = func() string {
	const digits = "0123456789abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 6)
	for i := range b {
		b[i] = digits[mrand.IntN(len(digits))]
	}
	return string(b)
}()

// Collection returns a collection name unique to this test binary run and
// test, so tests never see each other's sessions, even with another run
// on the same server. When the test ends, after the cleanups registered
// later (the stores and apps using the collection are closed first), the
// collection of that name in Database on the server is dropped (see
// DropNamed), so that a run on a server MONGODB_URI names leaves nothing
// behind, whoever created the collection.
func Collection(tb testing.TB) string {
	name := unsafeName.ReplaceAllString(tb.Name(), "_")
	if len(name) > 40 {
		name = name[:40]
	}
	coll := fmt.Sprintf("t%d_%s_%d_%s", os.Getpid(), runID, counter.Add(1), name)
	tb.Cleanup(func() { DropNamed(tb, Database, coll) })
	return coll
}

// RunCollection returns a collection name unique to this test binary run,
// for what is set up outside a test (the examples' collection): base, made
// of letters, digits and underscores, names its use.
func RunCollection(base string) string {
	return fmt.Sprintf("t%d_%s_%s", os.Getpid(), runID, base)
}

// WithDatabase returns uri naming the database db: the path between the
// host list and the options is replaced, the options kept. Where uri has
// credentials, the database they authenticate against (the old path, an
// SRV record's or the mechanism's default, as the driver works it out) is
// pinned with authSource, or the new path would become it.
func WithDatabase(uri, db string) (string, error) {
	cs, err := connstring.ParseAndValidate(uri)
	if err != nil {
		return "", err
	}
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return "", fmt.Errorf("URI %q has no scheme", uri)
	}
	// Neither the credentials nor the hosts hold a bare / or ? (the
	// connection string spec has them percent-encoded).
	hosts, query := rest, ""
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		hosts = rest[:i]
		_, query, _ = strings.Cut(rest[i:], "?")
	}
	if cs.AuthSource != "" && !cs.AuthSourceSet {
		if query != "" {
			query += "&"
		}
		query += "authSource=" + url.QueryEscape(cs.AuthSource)
	}
	out := scheme + "://" + hosts + "/" + db
	if query != "" {
		out += "?" + query
	}
	return out, nil
}

// Database is the database the tests use.
const Database = "mongosession_test"

// Server is a test server process.
type Server struct {
	URI  string
	Dir  string
	Addr string

	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
	once  sync.Once
}

// StartServer builds (once, cached by the go command) and starts the test
// server on addr with its data in dir, and returns once it accepts
// connections. Starting it again on the same addr and dir after Stop gives
// the same server and data back.
func StartServer(dir, addr string) (*Server, error) {
	bin, err := buildServer()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-dir", dir, "-addr", addr)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, cmd: cmd, stdin: stdin, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(s.done)
	}()
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case line, ok := <-lines:
		if !ok {
			s.Stop()
			return nil, errors.New("test server exited before printing its URI")
		}
		s.URI = strings.TrimSpace(line)
	case <-time.After(2 * time.Minute):
		s.Stop()
		return nil, errors.New("test server did not start within 2 minutes")
	}
	s.Addr = strings.TrimSuffix(strings.TrimPrefix(s.URI, "mongodb://"), "/")
	return s, nil
}

// Stop stops the server and waits for it to exit. The data stays in Dir.
func (s *Server) Stop() {
	s.once.Do(func() {
		_ = s.stdin.Close()
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})
}

// Kill ends the server at once, as a crash would.
func (s *Server) Kill() {
	s.once.Do(func() {
		_ = s.cmd.Process.Signal(syscall.SIGKILL)
		<-s.done
	})
}

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// buildServer compiles ../../testserver/cmd/mongosession-testserver without
// -race into the user cache directory, under a file lock so that test
// binaries of several packages running at once build it once.
func buildServer() (string, error) {
	buildOnce.Do(func() {
		buildBin, buildErr = build()
	})
	return buildBin, buildErr
}

func build() (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	cache = filepath.Join(cache, "mongosession-testserver")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", err
	}
	lock, err := os.OpenFile(filepath.Join(cache, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", err
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", err
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)

	bin := filepath.Join(cache, "mongosession-testserver")
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", bin, "./cmd/mongosession-testserver")
	cmd.Dir = filepath.Join(root, "testserver")
	// Build the server plainly whatever flags the tests were built with.
	cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false", "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("building the test server: %v\n%s", err, out)
	}
	return bin, nil
}

// repoRoot finds the repository root: the nearest parent of the working
// directory that holds testserver/go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "testserver", "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the repository's testserver module above the working directory; set MONGODB_URI to use a server of your own")
		}
		dir = parent
	}
}

// RestartableAddr returns a free loopback address for a test server that
// the test stops and starts again on the same address. Its port is chosen
// below the kernel's ephemeral range (32768 and up on Linux), from which
// every "listen on port 0" (other tests, other processes) draws, so that
// nothing else takes it while the server is down: only an explicit bind
// to that very port could.
func RestartableAddr(tb testing.TB) string {
	tb.Helper()
	for range 100 {
		addr := fmt.Sprintf("127.0.0.1:%d", 20000+mrand.IntN(12000))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue // in use
		}
		_ = ln.Close()
		return addr
	}
	tb.Fatal("mongotest: no free port between 20000 and 32000")
	return ""
}
