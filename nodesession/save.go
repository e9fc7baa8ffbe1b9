package nodesession

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/mongosession/mongosession/internal/token"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// Save writes what the request changed and issues the cookie the Node
// middleware would issue, once per session: later calls do nothing. It
// never resurrects a session deleted meanwhile (a logout on the Node side
// wins). A session whose document would exceed 16 MiB fails with an
// error wrapping mongosession.ErrTooLarge, before anything is sent, and
// the stored session is left as it was. Handler calls it; call it
// yourself only with a Session from Load, before w's header is written.
func (m *Manager) Save(ctx context.Context, w http.ResponseWriter, s *Session) error {
	return m.save(ctx, w.Header(), s)
}

// save is Save adding its cookies to h.
func (m *Manager) save(ctx context.Context, h http.Header, s *Session) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ph := s.phase
	if ph == saved {
		return nil
	}
	s.phase = saved
	now := m.now()
	switch {
	case ph == ending:
		return m.destroy(ctx, h, s)
	case s.isNew:
		if len(s.vals) == 0 {
			return nil // an empty new session is not stored (saveUninitialized: false)
		}
		return m.create(ctx, h, s, newSID(), now)
	case ph == renewing:
		return m.regenerate(ctx, h, s, now)
	case s.modified():
		gone, err := m.ly.codec.update(ctx, m, s, now)
		if err != nil || gone {
			return err
		}
		m.ck.written(h, s.sid, &s.cookie, s.keyIndex, false, now)
		return nil
	}
	if err := m.ly.rules.touch(ctx, m, s, now); err != nil {
		return err
	}
	if s.keyIndex > 0 {
		m.ck.resigned(h, s.sid, &s.cookie)
	}
	return nil
}

// destroy deletes a stored session and clears the cookie.
func (m *Manager) destroy(ctx context.Context, h http.Header, s *Session) error {
	if !s.isNew {
		err := m.be.Do(ctx, "nodesession: destroy", func(ctx context.Context, c *mongo.Collection) error {
			_, err := c.DeleteOne(ctx, m.ly.filter(s.sid))
			return err
		})
		if err != nil {
			return err
		}
	}
	m.ck.cleared(h, &s.cookie)
	return nil
}

// newSID is a fresh session id: uid-safe(24), as express-session's genid.
func newSID() string { return token.Random(24) }

// create stores s whole under sid, a fresh id, and issues its cookie. A
// session too large for one document is refused before anything is sent
// (mongosession.ErrTooLarge) and nothing is stored.
func (m *Manager) create(ctx context.Context, h http.Header, s *Session, sid string, now time.Time) error {
	w, err := m.creation(s, sid, now)
	if err != nil {
		return err
	}
	if _, err := m.updateOne(ctx, "nodesession: insert", m.ly.filter(sid), &w, nil, true); err != nil {
		return err
	}
	s.sid, s.isNew = sid, false
	m.ck.written(h, sid, &s.cookie, s.keyIndex, true, now)
	return nil
}

// creation is the upsert that stores s whole under sid at now, with a new
// cookie when s has none.
func (m *Manager) creation(s *Session, sid string, now time.Time) (write, error) {
	if !s.cookie.present {
		s.cookie = m.ck.newCookie(now)
	}
	w := m.write(s, now, true)
	v, err := m.ly.codec.value(m, s)
	if err != nil {
		return write{}, err
	}
	w.set = append(bson.D{{Key: m.ly.idField, Value: m.ly.storedID(sid)}, {Key: "session", Value: v}}, w.set...)
	return w, nil
}

// regenerate moves a stored session to a fresh id: it deletes the old
// document and takes what it holds in one command (findOneAndDelete), so
// values another writer stored since the load are kept, puts the
// request's changes on top and stores the result under a new id. A
// document gone or expired by then stays gone.
//
// A session too large for one document is refused before the delete
// (mongosession.ErrTooLarge): the old session stays, with its old cookie.
// When the new document cannot be stored after the delete (another writer
// grew the session past the limit meanwhile, or the insert failed), the
// request fails and the session stays ended: a deleted document is never
// put back, since a logout that raced the move (and found nothing left to
// delete) would be undone.
func (m *Manager) regenerate(ctx context.Context, h http.Header, s *Session, now time.Time) error {
	sid := newSID()
	if w, err := m.creation(s, sid, now); err != nil {
		return err
	} else if err := w.fits(nil); err != nil {
		return err
	}
	var raw bson.Raw
	err := m.be.Do(ctx, "nodesession: regenerate", func(ctx context.Context, c *mongo.Collection) error {
		var err error
		raw, err = c.FindOneAndDelete(ctx, m.ly.filter(s.sid)).Raw()
		if errors.Is(err, mongo.ErrNoDocuments) {
			raw, err = nil, nil
		}
		return err
	})
	if err != nil {
		return err
	}
	if raw == nil {
		return nil
	}
	fresh, _, err := m.open(raw, now)
	switch {
	case err != nil:
		// Readable when loaded, not now: store what was loaded.
		m.be.Report("nodesession: regenerating an unreadable session", err)
	case fresh == nil:
		return nil // expired
	default:
		s.rebase(fresh)
	}
	return m.create(ctx, h, s, sid, now)
}

// write starts a write of s at now: the cookie is touched as the Node
// middleware touches it, the document expires with the cookie (or after
// the layout's lifetime for a cookie without expiry), and the store adds
// its bookkeeping fields. created is true for a new document.
func (m *Manager) write(s *Session, now time.Time, created bool) write {
	m.ck.touch(&s.cookie, now)
	exp := now.Add(m.ly.lifetime).Truncate(time.Millisecond).UTC()
	if s.cookie.expires != nil {
		exp = *s.cookie.expires
	}
	w := write{set: bson.D{{Key: m.ly.expiresKey, Value: bson.NewDateTimeFromTime(exp)}}}
	m.ly.rules.stamp(&w, now, created)
	return w
}
