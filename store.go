// Package mongosession stores web sessions in MongoDB.
//
// A Store owns one sessions collection: its connection, its indexes, the
// expiry of its documents and the reporting of errors. Its method set is
// the byte-level session contract of alexedwards/scs v2 (Store, CtxStore,
// IterableStore, IterableCtxStore), which the faces translate for
// gorilla/sessions and echo (gorillastore), gin (ginstore) and fiber
// (fiberstore), nested modules of their own; httpsession (a native
// net/http manager) and nodesession (sessions shared with Express and Koa)
// work on its documents.
//
// Each session is one document:
//
//	{ _id: SHA-256(token), session: BinData, expires: Date, hashed: true }
//
// (with PlainIDs, for a collection shared with Node: { _id: token, session,
// expires }), and each operation is one round trip keyed by _id, the index
// every MongoDB-compatible server has (while MigratePlainIDs is on, a miss
// costs a second lookup and a commit a second command). Delete leaves
// { _id, ended: Date, expires } in place of the session, which no later
// Commit writes over: a session that ended stays ended, whatever a request
// still in flight does.
package mongosession

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
)

// Store is a session store backed by one MongoDB collection. It is safe for
// concurrent use. Create it with New and release it with Close.
type Store struct {
	cfg        config
	client     *mongo.Client
	ownsClient bool
	coll       *mongo.Collection
	cipher     *cipherSet                     // nil without EncryptionKeys
	findOpts   *options.FindOneOptionsBuilder // projection {session, <ExpiresKey>, ended}, built once
	handleKey  [32]byte                       // random, for AllCtx's handles (see handle)

	mu       sync.Mutex
	closed   bool
	inflight int
	drained  chan struct{} // closed when inflight drops to 0 after Close began

	reaperCancel context.CancelFunc
	reaperDone   chan struct{}
	// reaperReporting is set while the reaper is inside OnError.
	reaperReporting atomic.Bool
	reaping         bool // the reaper runs: AutoRemoveInterval, or the TTL fallback
}

// New connects to MongoDB, checks that the server answers, prepares the
// collection's expiry (TTL index or reaper, see AutoRemove) and returns a
// ready Store.
//
// Invalid options are an *OptionError naming the field (errors.Is
// ErrInvalidOptions). When the server cannot be reached, New fails with an
// error wrapping ErrUnavailable and the driver's cause, after the first of:
// ctx's deadline; the URI's serverSelectionTimeoutMS; Options.Timeout
// (default 5 s) when ctx has no deadline. A failed New leaves no goroutine
// and no connection behind.
//
// Index problems are not fatal: the server answering NotImplemented to a
// TTL index makes the store run its reaper instead; a conflicting index is
// repaired with collMod or reported; a user without the right to create
// indexes gets a warning. Those reports go to the logger and OnError, and
// New succeeds.
func New(ctx context.Context, opts Options) (*Store, error) {
	cfg, err := opts.validate()
	if err != nil {
		return nil, err
	}
	s := &Store{cfg: cfg}
	rand.Read(s.handleKey[:])
	s.findOpts = options.FindOne().SetProjection(bson.D{{Key: sessionField, Value: 1}, {Key: cfg.ExpiresKey, Value: 1}, {Key: endedField, Value: 1}})
	if len(cfg.EncryptionKeys) > 0 {
		if s.cipher, err = newCipherSet(cfg.EncryptionKeys); err != nil {
			return nil, &OptionError{Field: "EncryptionKeys", Reason: "cannot build the cipher", Err: err}
		}
	}

	if cfg.Client != nil {
		s.client = cfg.Client
	} else {
		co := options.Client().ApplyURI(cfg.URI)
		all := []*options.ClientOptions{co}
		if cfg.ClientOptions != nil {
			all = append(all, cfg.ClientOptions)
		}
		client, err := mongo.Connect(all...)
		var dnsErr *net.DNSError
		switch {
		case errors.As(err, &dnsErr):
			// A mongodb+srv URI whose records cannot be looked up: the
			// deployment is out of reach, as with any unreachable host.
			return nil, &opError{op: "connecting to MongoDB: resolving the mongodb+srv URI", err: redactURIError(err, cfg.URI), kind: ErrUnavailable}
		case err != nil && cfg.ClientOptions == nil:
			// Only a mongodb+srv URI is left unchecked by validate.
			return nil, &OptionError{Field: "URI", Reason: "cannot parse the connection string", Err: redactURIError(err, cfg.URI)}
		case err != nil:
			return nil, &OptionError{Field: "ClientOptions", Reason: "the driver refused the client options (or a mongodb+srv URI)", Err: redactURIError(err, cfg.URI)}
		}
		s.client, s.ownsClient = client, true
	}
	// Sessions are read from the primary whatever the client's own read
	// preference (an application client may prefer secondaries): a session
	// written, renewed or deleted by one request must be what the next
	// request sees, and a lagging secondary would undo a logout.
	s.coll = s.client.Database(cfg.Database).Collection(cfg.Collection,
		options.Collection().SetReadPreference(readpref.Primary()))

	fail := func(err error) (*Store, error) {
		if s.ownsClient {
			dctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
			_ = s.client.Disconnect(dctx)
			cancel()
		}
		return nil, err
	}

	pctx, cancel := s.opCtx(ctx)
	err = s.client.Ping(pctx, readpref.Primary())
	cancel()
	if err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			// The caller gave up: not a statement about the server.
			return fail(fmt.Errorf("mongosession: connecting to MongoDB: %w", ctx.Err()))
		}
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			err = errors.Join(err, cerr)
		}
		// ctx's deadline passing is the server not answering in time: both
		// ErrUnavailable and context.DeadlineExceeded hold.
		return fail(&opError{op: "connecting to MongoDB", err: err, kind: ErrUnavailable})
	}

	ictx, cancel := s.opCtx(ctx)
	err = s.prepareExpiry(ictx)
	cancel()
	if err != nil {
		return fail(err)
	}
	if s.reaping {
		s.startReaper()
	}
	return s, nil
}

// Client returns the driver client the store uses. It stays valid until
// Close, which disconnects it only if the store made it from Options.URI.
func (s *Store) Client() *mongo.Client { return s.client }

// Collection returns the sessions collection, for administration and for
// the faces in this module. Writing documents of another shape into it
// makes them "corrupt" to the store.
func (s *Store) Collection() *mongo.Collection { return s.coll }

// Close stops the reaper (without waiting for a call of OnError it is
// making, so that OnError may call Close), waits up to Options.Timeout for
// operations in flight to finish, and disconnects the client if the store made it (a
// client passed in Options.Client is left open). After Close every
// operation returns ErrClosed. Close is idempotent: later calls return nil.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	var drained chan struct{}
	if s.inflight > 0 {
		s.drained = make(chan struct{})
		drained = s.drained
	}
	s.mu.Unlock()

	if s.reaperCancel != nil {
		s.reaperCancel()
		if !s.reaperReporting.Load() {
			<-s.reaperDone
		}
		// Else the reaper is in OnError (which may be what called Close):
		// it returns from there to its cancelled context and ends.
	}
	if drained != nil {
		t := time.NewTimer(s.cfg.Timeout)
		select {
		case <-drained:
		case <-t.C:
		}
		t.Stop()
	}
	if !s.ownsClient {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	if err := s.client.Disconnect(ctx); err != nil {
		return fmt.Errorf("mongosession: close: %w", err)
	}
	return nil
}

func (s *Store) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// begin registers an operation in flight; it fails with ErrClosed after
// Close. Every successful begin is paired with end.
func (s *Store) begin() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.inflight++
	return nil
}

func (s *Store) end() {
	s.mu.Lock()
	s.inflight--
	if s.inflight == 0 && s.drained != nil {
		close(s.drained)
		s.drained = nil
	}
	s.mu.Unlock()
}

// opCtx bounds ctx by Options.Timeout when it has no deadline of its own.
func (s *Store) opCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx == nil {
		ctx = context.Background()
	}
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, s.cfg.Timeout)
}

// report sends a background failure to the logger and OnError, prefixed
// with what the store was doing.
func (s *Store) report(msg string, err error) {
	s.emit("mongosession: "+msg, fmt.Errorf("mongosession: %s: %w", msg, err))
}

// emit logs err under msg and sends it to OnError as it is.
func (s *Store) emit(msg string, err error) {
	s.cfg.Logger.Error(msg, "collection", s.cfg.Collection, "error", err)
	if s.cfg.OnError != nil {
		s.cfg.OnError(err)
	}
}

// do is Backend.Do.
func (s *Store) do(ctx context.Context, op string, fn func(ctx context.Context, coll *mongo.Collection) error) error {
	if err := s.begin(); err != nil {
		return err
	}
	defer s.end()
	if ctx == nil {
		ctx = context.Background()
	}
	octx, cancel := s.opCtx(ctx)
	defer cancel()
	return s.wrapErr(ctx, op, fn(octx, s.coll))
}
