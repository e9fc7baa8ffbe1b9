// Package testserver runs a MongoDB-compatible server in-process for tests
// and examples: FerretDB 1.24 with its SQLite backend (or, on request, over
// a PostgreSQL database), listening on loopback.
//
// It lives in a module of its own so that a program importing the root
// mongosession package never gets FerretDB in its build list. It is not a
// production database: FerretDB 1.x lacks TTL indexes, transactions and
// atomic concurrent updates (see the README's Compatibility section), and
// it runs a few hundred operations a second.
package testserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// Config says where a Server keeps its data and where it listens.
type Config struct {
	// Dir is the directory holding the SQLite databases. It is created if
	// missing; data in it survives a restart of the server. Required
	// unless PostgreSQLURL is set.
	Dir string

	// PostgreSQLURL, if set, keeps the data in that PostgreSQL database
	// instead (FerretDB's "postgresql" backend, e.g.
	// "postgres://postgres@127.0.0.1:5432/ferretdb"), and Dir is unused:
	// a second server to run the suite against (MONGODB_URI), whose
	// writers to different documents run concurrently. Optional.
	PostgreSQLURL string

	// Addr is the TCP address to listen on. Optional. Default
	// "127.0.0.1:0" (a free loopback port).
	Addr string

	// Logger receives the server's own log. Optional. Default: a logger that
	// keeps only errors, since FerretDB logs every error reply at WARN.
	Logger *slog.Logger
}

// Server is a running FerretDB instance. Close stops it.
type Server struct {
	uri     string
	cancel  context.CancelFunc
	done    chan error
	once    sync.Once
	stopErr error
}

// Start starts a server and returns once it accepts connections, or with an
// error naming what failed. ctx bounds the start-up only.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	fcfg := ferretdb.Config{Handler: "postgresql", PostgreSQLURL: cfg.PostgreSQLURL}
	if cfg.PostgreSQLURL == "" {
		if cfg.Dir == "" {
			return nil, errors.New("testserver: Config.Dir is required")
		}
		dir, err := filepath.Abs(cfg.Dir)
		if err != nil {
			return nil, fmt.Errorf("testserver: Config.Dir: %w", err)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("testserver: Config.Dir: %w", err)
		}
		// The SQLite URL is "file:" + an existing directory ending in "/".
		// (file:...?mode=memory hangs on updates in FerretDB 1.24.)
		fcfg = ferretdb.Config{Handler: "sqlite", SQLiteURL: "file:" + strings.TrimSuffix(dir, "/") + "/"}
	}
	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	}

	fcfg.Listener, fcfg.Logger = ferretdb.ListenerConfig{TCP: addr}, logger
	f, err := ferretdb.New(&fcfg)
	if err != nil {
		return nil, fmt.Errorf("testserver: %w", err)
	}

	runCtx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	// Run must be under way before MongoDBURI is called: MongoDBURI waits
	// for the listener, which Run starts.
	go func() { done <- f.Run(runCtx) }()

	uriCh := make(chan string, 1)
	go func() { uriCh <- f.MongoDBURI() }()

	select {
	case uri := <-uriCh:
		return &Server{uri: uri, cancel: cancel, done: done}, nil
	case err := <-done:
		cancel()
		return nil, fmt.Errorf("testserver: server stopped during start-up: %v", err)
	case <-ctx.Done():
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		return nil, fmt.Errorf("testserver: start-up: %w", ctx.Err())
	}
}

// URI is the server's connection string (mongodb://127.0.0.1:PORT/).
func (s *Server) URI() string { return s.uri }

// Close stops the server and waits for it to finish. It is safe to call
// more than once.
func (s *Server) Close() error {
	s.once.Do(func() {
		s.cancel()
		if err := <-s.done; err != nil && !errors.Is(err, context.Canceled) {
			s.stopErr = err
		}
	})
	return s.stopErr
}
