// Package savewriter is the response writer that session middleware
// (httpsession, nodesession) wraps around a handler's http.ResponseWriter
// so that the session is saved just before the response's header is sent,
// while a cookie can still be set.
//
// The save runs once: at the handler's first WriteHeader with a final
// status, Write, Flush or Hijack, or when the middleware calls Commit after
// the handler returned without writing. Informational responses (1xx other
// than 101 Switching Protocols) go out without saving: the final header is
// still to come. When the save fails, the writer puts the header map back
// as it was when the middleware started (headers set by middleware outside
// it, such as HSTS, CSP, CORS or a request ID, are kept; those the handler
// set for a response that will not be sent are dropped), sets
// "Cache-Control: no-store" and lets the middleware's error handler
// answer; the handler's later writes are discarded with ErrSaveFailed.
//
// A Writer is used by one request's handler, like the http.ResponseWriter
// it wraps; it is not safe for concurrent use.
package savewriter

import (
	"bufio"
	"errors"
	"maps"
	"net"
	"net/http"
)

// ErrSaveFailed is returned by Write and Hijack after the session could not
// be saved: the error handler answered the request instead of the handler.
var ErrSaveFailed = errors.New("the session could not be saved; the error handler answered this request")

// State is where a Writer is in its one save.
type State uint8

const (
	// Pending: nothing has been sent and the session not saved yet.
	Pending State = iota
	// Saved: the session was saved; the response is the handler's.
	Saved
	// Failed: the save failed and the error handler answered; the
	// handler's writes are discarded.
	Failed
)

// Writer saves the session before the response's header is sent. Create
// it with New.
type Writer struct {
	w     http.ResponseWriter
	save  func(h http.Header) error
	fail  func(w http.ResponseWriter, err error)
	outer http.Header
	state State
}

// New wraps w. save is called once, before the header of the final
// response is sent, with the header map it may add to (a Set-Cookie, a
// Cache-Control). When save returns an error, fail writes the response on
// w instead, after the header map was reset as described in the package
// comment. Call New before the handler runs: the headers set on w until
// then are the ones a failed save keeps.
func New(w http.ResponseWriter, save func(h http.Header) error, fail func(w http.ResponseWriter, err error)) *Writer {
	return &Writer{w: w, save: save, fail: fail, outer: w.Header().Clone()}
}

// State reports whether the session was saved, and how. After the handler
// returns, Pending means it wrote nothing: call Commit. Saved means the
// response was started by the handler itself, so that a change it made
// after writing is not in the saved session.
func (w *Writer) State() State { return w.state }

// Commit saves the session now if it was not saved yet (on failure the
// error handler answers), and returns the resulting state. Middleware calls
// it after the handler returns.
func (w *Writer) Commit() State {
	if w.state != Pending {
		return w.state
	}
	h := w.w.Header()
	err := w.save(h)
	if err == nil {
		w.state = Saved
		return Saved
	}
	w.state = Failed
	clear(h)
	maps.Copy(h, w.outer)
	h.Set("Cache-Control", "no-store")
	w.fail(w.w, err)
	return Failed
}

// Header returns the header map of the underlying writer.
func (w *Writer) Header() http.Header { return w.w.Header() }

// WriteHeader saves the session, then sends the header. An informational
// status (1xx other than 101 Switching Protocols) is sent without saving.
// After a failed save it does nothing.
func (w *Writer) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		if w.state != Failed {
			w.w.WriteHeader(code)
		}
		return
	}
	if w.Commit() == Saved {
		w.w.WriteHeader(code)
	}
}

// Write saves the session before the first write. After a failed save it
// discards b and returns ErrSaveFailed.
func (w *Writer) Write(b []byte) (int, error) {
	if w.Commit() != Saved {
		return 0, ErrSaveFailed
	}
	return w.w.Write(b)
}

// Flush saves the session, then flushes the underlying writer (through
// any writers it wraps) if it can. After a failed save it does nothing.
func (w *Writer) Flush() {
	if w.Commit() == Saved {
		_ = http.NewResponseController(w.w).Flush()
	}
}

// FlushError is Flush reporting why it could not flush:
// http.ErrNotSupported, ErrSaveFailed, or the underlying writer's error.
// http.ResponseController uses it.
func (w *Writer) FlushError() error {
	if w.Commit() != Saved {
		return ErrSaveFailed
	}
	return http.NewResponseController(w.w).Flush()
}

// Hijack saves the session, then hands over the connection (a websocket
// upgrade). It returns http.ErrNotSupported, without saving, when the
// underlying writer cannot be hijacked, and ErrSaveFailed after a failed
// save.
func (w *Writer) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if !canHijack(w.w) {
		return nil, nil, http.ErrNotSupported
	}
	if w.Commit() != Saved {
		return nil, nil, ErrSaveFailed
	}
	return http.NewResponseController(w.w).Hijack()
}

// canHijack reports whether rw or a writer it wraps (Unwrap, as
// http.ResponseController follows it) is an http.Hijacker.
func canHijack(rw http.ResponseWriter) bool {
	for {
		switch x := rw.(type) {
		case http.Hijacker:
			return true
		case interface{ Unwrap() http.ResponseWriter }:
			rw = x.Unwrap()
		default:
			return false
		}
	}
}

// Unwrap returns the underlying writer, for http.ResponseController's
// other methods (deadlines, full duplex).
func (w *Writer) Unwrap() http.ResponseWriter { return w.w }
