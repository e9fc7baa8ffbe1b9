package httpsession

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// RenewToken gives the request's session a new token, as after a login or
// any change of privilege (against session fixation). As in scs, it is
// written when the session is saved, in one update on the token's filter
// that sets a new verifier hash with the request's other changes: a login
// (SetUser, RenewToken, Put) is one update, and a find more if the handler
// read the session. The selector (Info.ID), the creation time and Lifetime
// stay. From that update on, every request still holding the old token is
// fenced out: its writes match nothing, its Incr fails with
// ErrSessionEnded, it can neither renew nor end the session. The one
// exception: after a renewal that kept the non-empty user the request had
// read, a Destroy with the old token within 30 seconds still ends the
// session (a logout sent before the renewal's response arrived). An Incr
// after RenewToken saves the request's changes so far, renewal included,
// first.
//
// A session not stored yet needs nothing (it gets a fresh token when first
// saved). A session that another request ended or renewed fails with
// ErrSessionEnded when the request knows it already; otherwise the save
// stores nothing and leaves the cookie alone. After the response's headers
// are written, RenewToken returns ErrHeadersWritten.
func (m *Manager) RenewToken(ctx context.Context) error {
	st := m.state(ctx)
	if st == nil {
		return ErrNoSession
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	switch {
	case st.committed:
		return ErrHeadersWritten
	case st.phase == fenced || st.phase == renewed:
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
	st := m.state(ctx)
	if st == nil {
		return ErrNoSession
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	switch st.phase {
	case pending, live, renewed:
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
