package httpsession

import (
	"context"
	"errors"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Info describes one session of a user, for a "your devices" page.
type Info struct {
	// ID is a handle on the session for RevokeSession: the stored _id,
	// which is the SHA-256 of the session's token. It is not the token and
	// cannot be used as one (a cookie is hashed before lookup), so it may
	// be shown in a page.
	ID string
	// Created is when the session was created (a login renews the token
	// but keeps it).
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
// the response; "" removes the owner. Call it at login, together with
// RenewToken (SetUser first saves a round trip: the renewed session is
// then inserted with its user).
func (m *Manager) SetUser(ctx context.Context, user string) {
	st := m.state(ctx)
	if st == nil {
		m.report("SetUser", ErrNoSession)
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.user == user {
		return
	}
	st.user = user
	st.userDirty = true
}

// User returns the owner of the request's session, or "" when it has none
// (or ctx has no session).
func (m *Manager) User(ctx context.Context) string {
	st := m.state(ctx)
	if st == nil {
		return ""
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.user
}

// RevokeUser deletes every session of user (one deleteMany on the user
// index) and returns how many it deleted; "" deletes nothing. Requests of
// those sessions still running cannot bring them back, and their next
// requests get new, empty sessions. A renewal of one of them in flight
// cannot either: one find on the user index lists the tombstones renewals
// left (within the last ten minutes), and the successor each names is ended, or
// blocked if its insert has not happened yet (one findAndModify per
// tombstone, and an insert after it when the successor is not there to
// replace, the common case once the deleteMany removed it; tombstones are
// neither counted nor deleted). When the request
// in ctx belongs to user (or its cookie names a tombstone of one of user's
// sessions), its cookie is cleared too.
func (m *Manager) RevokeUser(ctx context.Context, user string) (int64, error) {
	if user == "" {
		return 0, nil
	}
	var n int64
	err := m.do(ctx, "revoking a user's sessions", func(ctx context.Context, coll *mongo.Collection) error {
		// Tombstones of renewed sessions are left for the TTL index or
		// reaper: they are not sessions (their successors, which carry the
		// user, are deleted here), and they keep Destroy's way to the
		// successor.
		filter := bson.D{{Key: fieldUser, Value: user}, {Key: fieldNext, Value: bson.D{{Key: "$exists", Value: false}}}}
		res, err := coll.DeleteMany(ctx, filter)
		if err != nil {
			return err
		}
		n = res.DeletedCount
		// A renewal that fenced one of the user's sessions before the
		// deleteMany inserts its successor, carrying the user, after it:
		// end or block each successor a tombstone names.
		cur, err := coll.Find(ctx,
			bson.D{{Key: fieldUser, Value: user}, {Key: fieldNext, Value: bson.D{{Key: "$exists", Value: true}}}},
			options.Find().SetProjection(bson.D{{Key: fieldNext, Value: 1}}))
		if err != nil {
			return err
		}
		var nexts []string
		for cur.Next(ctx) {
			if next, ok := cur.Current.Lookup(fieldNext).StringValueOK(); ok {
				nexts = append(nexts, next)
			}
		}
		err = errors.Join(cur.Err(), cur.Close(ctx))
		for _, next := range nexts {
			if err != nil {
				break
			}
			_, err = m.endSuccessors(ctx, coll, next, user)
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	if st := m.state(ctx); st != nil {
		st.mu.Lock()
		if (st.stored && st.user == user) || (!st.stored && st.tomb != "" && st.tombUser == user) {
			st.reset()
		}
		st.mu.Unlock()
	}
	return n, nil
}

// Sessions lists the live sessions of user, most recently seen first (one
// find on the user index). ctx may be a request's context, to mark its
// session Current, or any other context. "" lists nothing.
func (m *Manager) Sessions(ctx context.Context, user string) ([]Info, error) {
	if user == "" {
		return nil, nil
	}
	current := ""
	if st := m.state(ctx); st != nil {
		st.mu.Lock()
		if st.stored {
			current = st.id
		}
		st.mu.Unlock()
	}
	now := time.Now()
	exp := m.expiresKey()
	var out []Info
	err := m.do(ctx, "listing a user's sessions", func(ctx context.Context, coll *mongo.Collection) error {
		out = nil
		filter := bson.D{
			{Key: fieldUser, Value: user},
			{Key: exp, Value: bson.D{{Key: "$gt", Value: bson.NewDateTimeFromTime(now)}}},
			{Key: fieldNext, Value: bson.D{{Key: "$exists", Value: false}}}, // not a tombstone
		}
		proj := bson.D{{Key: fieldCreated, Value: 1}, {Key: fieldLastSeen, Value: 1}, {Key: fieldAgent, Value: 1}, {Key: exp, Value: 1}}
		cur, err := coll.Find(ctx, filter, options.Find().SetProjection(proj))
		if err != nil {
			return err
		}
		defer cur.Close(ctx)
		for cur.Next(ctx) {
			raw := cur.Current
			id, ok := raw.Lookup("_id").StringValueOK()
			if !ok {
				continue
			}
			info := Info{ID: id, Current: id == current}
			info.Created, _ = raw.Lookup(fieldCreated).TimeOK()
			info.LastSeen, _ = raw.Lookup(fieldLastSeen).TimeOK()
			info.Expires, _ = raw.Lookup(exp).TimeOK()
			if !m.deadline(info.Created, info.LastSeen).After(now) {
				continue // expired under the current settings
			}
			if v, err := raw.LookupErr(fieldAgent); err == nil {
				info.UserAgent = m.openAgent(id, v)
			}
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
// user (one findAndModify deleting by _id and user): a user can end their
// own sessions only, whatever id a form sends. When the session's token was
// renewed since id was listed, the successor is ended too if it still
// belongs to user, or blocked if the renewal has not inserted it yet (one
// more command per renewal, two in those last cases): a renewal that
// switched users (a shared computer where someone else logged in) is left
// alone. A missing session, or one of another user, is a no-op with
// a nil error. When it is the request's own session (or the tombstone its
// cookie names), its cookie is cleared too.
func (m *Manager) RevokeSession(ctx context.Context, user, id string) error {
	if user == "" || id == "" {
		return nil
	}
	err := m.end(ctx, "revoking a session", bson.D{{Key: "_id", Value: id}, {Key: fieldUser, Value: user}}, user)
	if err != nil {
		return err
	}
	if st := m.state(ctx); st != nil {
		st.mu.Lock()
		if (st.stored && st.id == id && st.user == user) || (!st.stored && st.tomb == id && st.tombUser == user) {
			st.reset()
		}
		st.mu.Unlock()
	}
	return nil
}
