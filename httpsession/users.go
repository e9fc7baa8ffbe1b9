package httpsession

import (
	"context"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Info describes one session of a user, for a "your devices" page.
type Info struct {
	// ID is a handle on the session for RevokeSession: its selector, the
	// stored _id. It is half a token and cannot be used as one (the
	// verifier is missing), so it may be shown in a page.
	ID string
	// Created is when the session was created (RenewToken keeps it).
	Created time.Time
	// LastSeen is the session's last write: exact for requests that changed
	// it, up to TouchAfter old otherwise.
	LastSeen time.Time
	// Expires is the session's stored expiry.
	Expires time.Time
	// UserAgent is the User-Agent of the request that created the session
	// (at most 256 bytes).
	UserAgent string
	// Current is true for the session of the request whose context was
	// passed to Sessions.
	Current bool
}

// SetUser records user as the owner of the request's session, saved with
// the request (or with RenewToken, when called before it); "" removes the
// owner. Call it at login, before RenewToken, so that the renewal writes
// the user with the new token in one update. Without a session in ctx,
// SetUser does nothing and the mistake is reported to the store's logger.
func (m *Manager) SetUser(ctx context.Context, user string) {
	st := m.lock(ctx)
	if st == nil {
		m.report("SetUser", ErrNoSession)
		return
	}
	defer st.mu.Unlock()
	if st.phase != pending && st.user == user {
		return
	}
	st.user, st.userSet = user, true
}

// User returns the owner of the request's session, or "" when it has none
// (or ctx has no session). It reads the session if the request has not.
func (m *Manager) User(ctx context.Context) string {
	st := m.view(ctx)
	if st == nil {
		return ""
	}
	defer st.mu.Unlock()
	return st.user
}

// RevokeUser deletes every session of user (one deleteMany on the user
// index) and returns how many it deleted; "" deletes nothing. Requests of
// those sessions still running cannot bring them back (their writes are
// updates without upsert). When the request in ctx has read its session
// and it belongs to user, its cookie is cleared too.
func (m *Manager) RevokeUser(ctx context.Context, user string) (int64, error) {
	if user == "" {
		return 0, nil
	}
	n, err := m.delete(ctx, "revoking a user's sessions", bson.D{{Key: fieldUser, Value: user}}, true)
	if err != nil {
		return 0, err
	}
	if st := m.lock(ctx); st != nil {
		if st.phase == live && st.owner == user {
			st.forget(ended)
		}
		st.mu.Unlock()
	}
	return n, nil
}

// Sessions lists the live sessions of user, most recently seen first (one
// find on the user index). ctx may be a request's context, to mark its
// session Current (it reads the session if the request has not), or any
// other context. "" lists nothing.
func (m *Manager) Sessions(ctx context.Context, user string) ([]Info, error) {
	if user == "" {
		return nil, nil
	}
	current := ""
	if st := m.view(ctx); st != nil {
		if st.phase == live {
			current = st.sel
		}
		st.mu.Unlock()
	}
	now := time.Now()
	var out []Info
	err := m.do(ctx, "listing a user's sessions", func(ctx context.Context, coll *mongo.Collection) error {
		out = nil
		filter := bson.D{
			{Key: fieldUser, Value: user},
			{Key: m.exp, Value: bson.D{{Key: "$gt", Value: bson.NewDateTimeFromTime(now)}}},
		}
		proj := bson.D{{Key: fieldLastSeen, Value: 1}, {Key: fieldAgent, Value: 1}, {Key: m.exp, Value: 1}}
		cur, err := coll.Find(ctx, filter, options.Find().SetProjection(proj))
		if err != nil {
			return err
		}
		defer cur.Close(ctx)
		for cur.Next(ctx) {
			raw := cur.Current
			id, _ := raw.Lookup("_id").StringValueOK()
			created, ok := selectorTimeOf(id)
			if !ok {
				continue
			}
			info := Info{ID: id, Created: created, Current: id == current}
			info.LastSeen, _ = raw.Lookup(fieldLastSeen).TimeOK()
			info.Expires, _ = raw.Lookup(m.exp).TimeOK()
			if !m.deadline(info.Created, info.LastSeen).After(now) {
				continue // expired under the current settings
			}
			info.UserAgent = m.openAgent(id, raw.Lookup(fieldAgent))
			out = append(out, info)
		}
		return cur.Err()
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b Info) int { return b.LastSeen.Compare(a.LastSeen) })
	return out, nil
}

// RevokeSession deletes the session whose Info.ID is id, if it belongs to
// user (one delete on _id and user): a user can end their own sessions
// only, whatever id a form sends. A missing session, or one of another
// user, is a no-op with a nil error, as is an id that no session can have
// (sent by a hostile form: not even asked of the server). When it is the
// request's own session, its cookie is cleared too.
func (m *Manager) RevokeSession(ctx context.Context, user, id string) error {
	if user == "" || !validSelector(id) {
		return nil
	}
	n, err := m.delete(ctx, "revoking a session", bson.D{{Key: "_id", Value: id}, {Key: fieldUser, Value: user}}, false)
	if err != nil {
		return err
	}
	if st := m.lock(ctx); st != nil {
		if n > 0 && st.sel == id && (st.phase == pending || st.phase == live) {
			st.forget(ended)
		}
		st.mu.Unlock()
	}
	return nil
}

// delete deletes what filter matches, one document or (many) all, and
// returns how many: one command.
func (m *Manager) delete(ctx context.Context, op string, filter bson.D, many bool) (int64, error) {
	var n int64
	err := m.do(ctx, op, func(ctx context.Context, coll *mongo.Collection) error {
		var res *mongo.DeleteResult
		var err error
		if many {
			res, err = coll.DeleteMany(ctx, filter)
		} else {
			res, err = coll.DeleteOne(ctx, filter)
		}
		if err == nil {
			n = res.DeletedCount
		}
		return err
	})
	return n, err
}
