package httpsession

import (
	"bufio"
	"context"
	"errors"
	"maps"
	"net"
	"net/http"
)

// errSaveFailed is returned by Write after the session could not be saved
// and ErrorFunc answered instead.
var errSaveFailed = errors.New("httpsession: the session could not be saved; ErrorFunc answered the request")

// responseWriter saves the session before the first byte of the response
// header is sent.
type responseWriter struct {
	http.ResponseWriter
	m      *Manager
	r      *http.Request
	st     *state
	outer  http.Header // the headers set before LoadAndSave, for the error page
	saved  bool
	failed bool
}

// save runs once: it writes the session's changes and the cookie, or on
// failure hands the response to ErrorFunc.
func (w *responseWriter) save() {
	if w.saved {
		return
	}
	w.saved = true
	w.st.mu.Lock()
	err := w.m.save(context.WithoutCancel(w.r.Context()), w.st)
	c := w.m.cookie(w.st)
	w.st.committed = true
	w.st.mu.Unlock()
	if err != nil {
		w.failed = true
		// The handler's headers (Location, Content-Encoding, caching, its
		// own cookies) describe a response that will not be sent; those of
		// middleware outside LoadAndSave still hold.
		h := w.ResponseWriter.Header()
		clear(h)
		maps.Copy(h, w.outer)
		h.Set("Cache-Control", "no-store")
		w.m.errorFunc(w.ResponseWriter, w.r, err)
		return
	}
	if c != nil {
		h := w.ResponseWriter.Header()
		h.Add("Set-Cookie", c.String())
		h.Set("Cache-Control", "no-store")
		h.Add("Vary", "Cookie")
	}
}

// saveLate saves what the handler changed after the response's headers
// were sent (after a Write, Flush or Hijack), when next has returned: one
// update of a stored session, as save does, with no cookie. ErrorFunc can
// no longer answer, so a failure goes to the store's logger and OnError;
// changes that would need a new session (none is stored) are reported
// likewise and dropped.
func (w *responseWriter) saveLate() {
	if w.failed {
		return
	}
	w.st.mu.Lock()
	defer w.st.mu.Unlock()
	st := w.st
	if st.phase == fenced || st.phase == renewed || (!st.changed() && st.err == nil) {
		return
	}
	const msg = "saving a session changed after the response was written"
	if st.phase == fresh || st.phase == ended {
		w.m.report(msg, ErrHeadersWritten)
		return
	}
	if err := w.m.save(context.WithoutCancel(w.r.Context()), st); err != nil {
		w.m.report(msg, err)
	}
}

// WriteHeader saves the session, then sends the header (informational 1xx
// headers pass through without saving).
func (w *responseWriter) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.save()
	if w.failed {
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write saves the session before the first write. After a failed save it
// discards b and returns an error.
func (w *responseWriter) Write(b []byte) (int, error) {
	w.save()
	if w.failed {
		return 0, errSaveFailed
	}
	return w.ResponseWriter.Write(b)
}

// Flush saves the session, then flushes the underlying writer if it can.
func (w *responseWriter) Flush() {
	w.save()
	if w.failed {
		return
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack saves the session, then hands over the connection (websockets).
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.save()
	if w.failed {
		return nil, nil, errSaveFailed
	}
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	return h.Hijack()
}

// Unwrap returns the underlying writer, for http.ResponseController.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
