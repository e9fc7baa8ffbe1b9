package httpsession

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// RenewToken gives the request's session a new token, as after a login or
// any change of privilege (against session fixation). As in scs, it is
// written when the session is saved, in the one update that saves the
// request's other changes (a login, SetUser + RenewToken + Put, is one
// update, plus a find if the handler read the session); the selector
// (Info.ID), the creation time and Lifetime stay. Requests still holding
// the old token are then fenced out, as the package documentation says
// (and an Incr after RenewToken saves the renewal first). A session not
// stored yet needs nothing: it gets a fresh token when first saved. It
// returns ErrSessionEnded when the request already knows its session
// ended or was renewed (otherwise the save stores nothing and leaves the
// cookie alone), and ErrHeadersWritten once the response's headers are out.
func (m *Manager) RenewToken(ctx context.Context) error {
	st := m.lock(ctx)
	if st == nil {
		return ErrNoSession
	}
	defer st.mu.Unlock()
	switch {
	case st.committed:
		return ErrHeadersWritten
	case st.phase == fenced:
		return ErrSessionEnded
	case st.phase == pending || st.phase == live:
		st.renew = true
	}
	return nil
}

// Destroy ends the request's session at once and clears its cookie with
// the response: one delete on the token's filter (or, within 30 seconds
// of a renewal that kept the user, on the old token's). Whatever other
// requests of the session still do, it stays ended: their writes are
// updates without upsert. A token that names no live session deletes
// nothing. The request goes on with a new, empty session, stored only if
// the request puts something in it.
func (m *Manager) Destroy(ctx context.Context) error {
	st := m.lock(ctx)
	if st == nil {
		return ErrNoSession
	}
	defer st.mu.Unlock()
	switch st.phase {
	case pending, live, fenced:
		now := time.Now()
		filter := bson.D{{Key: "_id", Value: st.sel}, {Key: "$or", Value: bson.A{
			bson.D{{Key: fieldVerifier, Value: st.hash}, {Key: m.exp, Value: bson.D{{Key: "$gt", Value: bson.NewDateTimeFromTime(now)}}}},
			bson.D{{Key: fieldPrevious, Value: st.hash}, {Key: fieldRenewed, Value: bson.D{{Key: "$gt", Value: bson.NewDateTimeFromTime(now.Add(-renewGrace))}}}},
		}}}
		if _, err := m.delete(context.WithoutCancel(ctx), "destroying a session", filter, false); err != nil {
			return err
		}
	}
	st.forget(ended)
	return nil
}
