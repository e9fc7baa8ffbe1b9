package nodesession

import (
	"context"
	"net/http"

	"github.com/mongosession/mongosession/internal/savewriter"
)

// Handler is the middleware: it loads the request's session before next
// runs (FromContext gives it to next), and saves it just before the
// response's header is sent (next's first WriteHeader with a final status,
// Write, Flush or Hijack; an informational 1xx goes out without saving) or
// when next returns without writing: changed values are written, expires
// moves as the Node store computes it, and the cookie is issued when the
// Node middleware would issue it. Saving does not depend on the client
// waiting: it uses the request's context without its cancellation,
// bounded by the store's Timeout.
//
// A failed load or save goes to the store's Report and to
// Options.ErrorHandler, which then answers instead of next, with
// "Cache-Control: no-store" and, after a failed save, only the headers
// set before Handler ran (those of middleware outside it, such as HSTS or
// a request ID; next's are dropped). next's later writes are discarded
// with an error.
func (m *Manager) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := m.Load(r)
		if err != nil {
			m.be.Report("nodesession: loading a session", err)
			w.Header().Set("Cache-Control", "no-store")
			m.onErr(w, r, err)
			return
		}
		ctx := context.WithoutCancel(r.Context())
		sw := savewriter.New(w, func(h http.Header) error {
			err := m.save(ctx, h, s)
			if err != nil {
				m.be.Report("nodesession: saving a session", err)
			}
			return err
		}, func(w http.ResponseWriter, err error) { m.onErr(w, r, err) })
		next.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), ctxKey{}, s)))
		sw.Commit()
	})
}
