package httpsession

import (
	"context"
	"net/http"

	"github.com/mongosession/mongosession/internal/savewriter"
)

// LoadAndSave is the middleware that gives next's requests their session.
// It reads nothing itself: the session is read when next first reads it
// (one find by _id), written blind when next only writes (see Put and
// Incr), and not touched when next does neither. What the request changed
// is saved just before the response's header is sent (next's first
// WriteHeader with a final status, Write, Flush or Hijack; a 1xx goes out
// without saving), or when next returns without writing, so that the
// cookie can still be set. What next changes after it wrote is saved when
// next returns, by one more update without a cookie; a failure then goes
// to the store's logger and OnError.
//
// When the session cannot be read or saved, ErrorFunc answers instead of
// next (see Manager.ErrorFunc), and next's later writes are discarded with
// an error. A missing, malformed, unknown or expired cookie is not an
// error: the request gets a new, empty session, stored (under a new
// cookie) only if the request writes to it. Responses that set the cookie
// carry "Cache-Control: no-store" and "Vary: Cookie", so no cache keeps a
// session token.
//
// Saving does not depend on the client waiting for the answer: it uses
// the request's context without its cancellation, bounded by the store's
// Timeout.
func (m *Manager) LoadAndSave(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := newState(m, r)
		r = r.WithContext(context.WithValue(r.Context(), m.key, st))
		ctx := context.WithoutCancel(r.Context())
		sw := savewriter.New(w, func(h http.Header) error {
			st.mu.Lock()
			err := m.save(ctx, st)
			c := m.cookie(st)
			st.committed = true
			st.mu.Unlock()
			if err != nil {
				return err
			}
			if c != nil {
				h.Add("Set-Cookie", c.String())
				h.Set("Cache-Control", "no-store")
				h.Add("Vary", "Cookie")
			}
			return nil
		}, func(w http.ResponseWriter, err error) { m.errorFunc(w, r, err) })
		next.ServeHTTP(sw, r)
		switch sw.State() {
		case savewriter.Pending:
			sw.Commit()
		case savewriter.Saved:
			m.saveLate(ctx, st)
		}
	})
}

// saveLate saves what the handler changed after the response's header was
// sent, when next has returned: one update of a stored session, as save
// does, with no cookie. ErrorFunc can no longer answer, so a failure goes
// to the store's logger and OnError; changes that would need a new session
// (none is stored) are reported likewise and dropped.
func (m *Manager) saveLate(ctx context.Context, st *state) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.phase == fenced || (!st.changed() && st.err == nil) {
		return
	}
	const msg = "saving a session changed after the response was written"
	if st.phase == fresh || st.phase == ended {
		m.report(msg, ErrHeadersWritten)
		return
	}
	if err := m.save(ctx, st); err != nil {
		m.report(msg, err)
	}
}
