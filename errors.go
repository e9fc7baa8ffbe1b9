package mongosession

import (
	"context"
	"errors"

	"github.com/mongosession/mongosession/internal/servererr"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/topology"
)

// Sentinel errors, for errors.Is. Errors the store returns wrap one of
// these, or the driver's error, or both; none carries a session token.
var (
	// ErrClosed is returned by every operation after Close.
	ErrClosed = errors.New("mongosession: store is closed")

	// ErrTooLarge is returned by a commit whose document would exceed
	// MongoDB's 16 MiB document limit. Nothing is sent, and the stored
	// session is left as it was.
	ErrTooLarge = errors.New("mongosession: session too large for a MongoDB document")

	// ErrUnavailable wraps failures to reach the server: no server
	// selectable within the timeout, a network error, or an operation that
	// ran out of the store's Timeout. Retrying later may succeed.
	ErrUnavailable = errors.New("mongosession: database unavailable")

	// ErrCorrupt reports a stored document the store cannot use: wrong BSON
	// types, a missing expiry, data that fails to decrypt. Reads treat such
	// a document as "not found" and report this error through OnError.
	ErrCorrupt = errors.New("mongosession: corrupt session document")

	// ErrInvalidToken is returned by a write given a token that can never be
	// a session token (empty, longer than MaxTokenLength, invalid UTF-8, or
	// holding control characters). Reads treat such tokens as "not found".
	ErrInvalidToken = errors.New("mongosession: invalid session token")

	// ErrInvalidOptions is matched by every *OptionError returned by New.
	ErrInvalidOptions = errors.New("mongosession: invalid options")
)

// opError wraps a failed operation with its name and the sentinel that
// classifies it (ErrUnavailable, ErrClosed), if any.
type opError struct {
	op   string
	err  error
	kind error
}

func (e *opError) Error() string {
	switch e.kind {
	case ErrUnavailable:
		return "mongosession: " + e.op + ": database unavailable: " + e.err.Error()
	case ErrClosed:
		return "mongosession: " + e.op + ": cut short by Close: " + e.err.Error()
	}
	return "mongosession: " + e.op + ": " + e.err.Error()
}

func (e *opError) Unwrap() []error {
	if e.kind != nil {
		return []error{e.err, e.kind}
	}
	return []error{e.err}
}

// wrapErr classifies err from operation op. caller is the context the
// caller passed in: when it is done, its own error is what the caller sees
// (cancellation is not an outage). An operation cut short because Close
// disconnected the client is ErrClosed. Otherwise network errors, server
// selection failures, cleared pools, elections and timeouts of the store's
// own deadline are ErrUnavailable.
func (s *Store) wrapErr(caller context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrClosed) || errors.Is(err, ErrTooLarge) || errors.Is(err, ErrInvalidToken) {
		return err
	}
	if caller == nil {
		caller = context.Background()
	}
	if cerr := caller.Err(); cerr != nil {
		return &opError{op: op, err: cerr}
	}
	if s.isClosed() && isClientClosed(err) {
		return &opError{op: op, err: err, kind: ErrClosed}
	}
	if isUnavailable(err) {
		return &opError{op: op, err: err, kind: ErrUnavailable}
	}
	return &opError{op: op, err: err}
}

// isClientClosed reports whether err comes from a disconnected client.
func isClientClosed(err error) bool {
	return errors.Is(err, mongo.ErrClientDisconnected) ||
		errors.Is(err, topology.ErrServerClosed) ||
		errors.Is(err, topology.ErrTopologyClosed) ||
		errors.Is(err, topology.ErrPoolClosed)
}

// isUnavailable reports whether err means the server could not be reached,
// did not answer in time, or cannot serve for now (an election, a
// shutdown): retrying later may succeed.
func isUnavailable(err error) bool {
	var sse topology.ServerSelectionError
	var rpe driver.RetryablePoolError
	return errors.As(err, &sse) ||
		(errors.As(err, &rpe) && rpe.Retryable()) ||
		mongo.IsNetworkError(err) ||
		mongo.IsTimeout(err) ||
		isClientClosed(err) ||
		servererr.Transient(err)
}
