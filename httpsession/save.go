package httpsession

import (
	"context"
	"fmt"
	"time"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/servererr"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// save writes what the request changed. It is called once per request,
// before the response's headers are sent, and again when the handler
// changed the session after writing (saveLate). By phase:
//
//   - fresh or ended, with changes: one insert under a new token;
//   - pending, with changes: one update of the changed keys, the user,
//     the last-seen time and the expiry, on the token's filter, without
//     having read the session (with EncryptionKeys, or when the server
//     cannot check MaxKeys in the filter, a find first). When it matches
//     nothing, one find tells why: an unknown or expired session makes
//     the changes a new one (insert), a live one that the MaxKeys check
//     refused fails with ErrTooManyKeys, a renewed one stores nothing;
//   - live: one update when something changed, or, once per TouchAfter,
//     of the last-seen time and expiry only; when it matches nothing the
//     session ended or was renewed meanwhile: it stays so, the request is
//     fenced and its cookie left alone;
//   - fenced, renewed, or nothing changed: nothing.
//
// A RenewToken is written with the changes, as part of the update: a new
// v, its time, and pv (the old v) only when the request read the session
// and the renewal keeps its non-empty user.
func (m *Manager) save(ctx context.Context, st *state) error {
	if st.err != nil {
		return st.err
	}
	if st.phase == pending && st.changed() && !m.blind(st) {
		if err := m.load(ctx, st); err != nil {
			return err
		}
		if st.err != nil {
			return st.err
		}
	}
	now := time.Now()
	ta := m.touchAfter()
	switch {
	case !st.changed() && (st.phase != live || ta <= 0 || now.Sub(st.seen) < ta):
		return nil
	case st.phase == fresh || st.phase == ended:
		return m.insert(ctx, st, now)
	case st.phase != pending && st.phase != live:
		return nil
	}
	var set, unset bson.D
	var verifier, hash string
	if st.renew {
		verifier, hash = newVerifier()
		set = bson.D{{Key: fieldVerifier, Value: hash}, {Key: fieldRenewed, Value: bson.NewDateTimeFromTime(now)}}
		if st.phase == live && st.user != "" && st.user == st.owner {
			set = append(set, bson.E{Key: fieldPrevious, Value: st.hash})
		} else {
			unset = bson.D{{Key: fieldPrevious, Value: ""}}
		}
	}
	update, err := m.changes(st, now, set, unset)
	if err != nil {
		return err
	}
	filter := m.filter(st, now)
	if st.phase == pending {
		filter = append(filter, m.keysGuard(st, st.puts())...)
	}
	matched, err := m.updateOne(ctx, "saving a session", filter, update)
	switch {
	case err != nil && (st.phase != pending || !m.exprRefused(err)):
		return err
	case matched:
		if st.renew {
			st.hash, st.token, st.renew = hash, st.sel+verifier, false
		}
		st.saved(now)
		return nil
	case st.phase == live:
		st.forget(fenced)
		return nil
	}
	// Missed, or the guard refused: one find tells why, and save again.
	if err := m.load(ctx, st); err != nil {
		return err
	}
	return m.save(ctx, st)
}

// updateOne sends one update and reports whether it matched.
func (m *Manager) updateOne(ctx context.Context, op string, filter, update bson.D) (bool, error) {
	var matched bool
	err := m.do(ctx, op, func(ctx context.Context, coll *mongo.Collection) error {
		res, err := coll.UpdateOne(ctx, filter, update)
		matched = err == nil && res.MatchedCount > 0
		return err
	})
	return matched, err
}

// stamps is the $set of the expiry and the last-seen time at now.
func (m *Manager) stamps(st *state, now time.Time) bson.D {
	return bson.D{
		{Key: m.exp, Value: bson.NewDateTimeFromTime(m.deadline(st.created, now))},
		{Key: fieldLastSeen, Value: bson.NewDateTimeFromTime(now)},
	}
}

// saved records that the request's changes were written at now.
func (st *state) saved(now time.Time) {
	st.dirty, st.clear, st.userSet = map[string]bool{}, false, false
	st.seen, st.owner = now, st.user
}

// puts counts the keys the request Put.
func (st *state) puts() int {
	n := 0
	for _, put := range st.dirty {
		if put {
			n++
		}
	}
	return n
}

// blind reports whether st's changes can be written without reading the
// session first: values are not encrypted (sealing needs the user), and
// MaxKeys can be checked in the write's filter, or needs no check.
func (m *Manager) blind(st *state) bool {
	return !m.encrypted && (m.maxKeys() < 0 || st.clear || st.puts() == 0 || !m.noExpr.Load())
}

// keysGuard returns the filter condition that lets a write adding up to n
// keys to a session it has not read match only while the session keeps
// within MaxKeys, or nil when no check is needed. It counts every key as
// new: near the limit the write misses, and save reads the session to
// decide exactly. It needs $expr; see exprRefused.
func (m *Manager) keysGuard(st *state, n int) bson.D {
	max := m.maxKeys()
	if max < 0 || n == 0 || st.clear {
		return nil
	}
	size := bson.D{{Key: "$size", Value: bson.D{{Key: "$objectToArray", Value: bson.D{
		{Key: "$ifNull", Value: bson.A{"$" + fieldSession, bson.D{}}},
	}}}}}
	return bson.D{{Key: "$expr", Value: bson.D{{Key: "$lte", Value: bson.A{size, max - n}}}}}
}

// exprRefused reports whether err is a server's refusal of keysGuard's
// $expr (FerretDB 1.x: NotImplemented), and if so remembers it: later
// writes that add keys read the session first.
func (m *Manager) exprRefused(err error) bool {
	if servererr.Has(err, servererr.NotImplemented, servererr.InvalidPipelineOperator, servererr.UnknownExpression) {
		m.noExpr.Store(true)
		return true
	}
	return false
}

// changes returns the update that writes st's pending changes, the
// last-seen time and the expiry at now, plus set and unset. With
// EncryptionKeys, values are sealed to the user they are stored with: a
// change of user writes every value anew (st is live then: see blind).
func (m *Manager) changes(st *state, now time.Time, set, unset bson.D) (bson.D, error) {
	set = append(set, m.stamps(st, now)...)
	if st.clear || (m.encrypted && st.userSet && st.user != st.owner) {
		doc, err := m.sessionDoc(st, st.sel)
		if err != nil {
			return nil, err
		}
		set = append(set, bson.E{Key: fieldSession, Value: doc})
	} else {
		for key, put := range st.dirty {
			field := encodeKey(key)
			path := fieldSession + "." + field
			if !put {
				unset = append(unset, bson.E{Key: path, Value: ""})
				continue
			}
			v, err := m.storeValue(st.sel, field, st.user, st.vals[key])
			if err != nil {
				return nil, err
			}
			set = append(set, bson.E{Key: path, Value: v})
		}
	}
	if st.userSet && st.user == "" {
		unset = append(unset, bson.E{Key: fieldUser, Value: ""})
	} else if st.userSet {
		set = append(set, bson.E{Key: fieldUser, Value: st.user})
	}
	update := bson.D{{Key: "$set", Value: set}}
	if len(unset) > 0 {
		update = append(update, bson.E{Key: "$unset", Value: unset})
	}
	return update, checkSize(update)
}

// sessionDoc returns the "session" sub-document holding all of st's values,
// sealed for the document id and st's user (the ciphertexts are kept in
// st.sealed, for Incr; a stale one only makes Incr read the session).
func (m *Manager) sessionDoc(st *state, id string) (bson.D, error) {
	doc := make(bson.D, 0, len(st.vals))
	for key, v := range st.vals {
		field := encodeKey(key)
		sv, err := m.storeValue(id, field, st.user, v)
		if err != nil {
			return nil, err
		}
		if b, ok := sv.(bson.Binary); ok {
			st.sealed[key] = b
		}
		doc = append(doc, bson.E{Key: field, Value: sv})
	}
	return doc, nil
}

// insert stores st's values and user as a new session under a fresh token:
// one insert. The request's session is then live, and the response carries
// the new cookie.
func (m *Manager) insert(ctx context.Context, st *state, now time.Time) error {
	if st.committed {
		return ErrHeadersWritten
	}
	sel := newSelector(now)
	verifier, hash := newVerifier()
	values, err := m.sessionDoc(st, sel)
	if err != nil {
		return err
	}
	agent, err := m.storeAgent(sel, st.agent)
	if err != nil {
		return err
	}
	now = time.UnixMilli(now.UnixMilli()) // the selector's precision
	doc := bson.D{
		{Key: "_id", Value: sel},
		{Key: fieldVerifier, Value: hash},
		{Key: fieldSession, Value: values},
		{Key: m.exp, Value: bson.NewDateTimeFromTime(m.deadline(now, now))},
		{Key: fieldLastSeen, Value: bson.NewDateTimeFromTime(now)},
		{Key: fieldAgent, Value: agent},
	}
	if st.user != "" {
		doc = append(doc, bson.E{Key: fieldUser, Value: st.user})
	}
	if err := checkSize(doc); err != nil {
		return err
	}
	err = m.do(ctx, "inserting a session", func(ctx context.Context, coll *mongo.Collection) error {
		_, err := coll.InsertOne(ctx, doc)
		return err
	})
	if err != nil {
		return err
	}
	st.phase, st.sel, st.hash, st.created, st.token = live, sel, hash, now, sel+verifier
	st.saved(now)
	return nil
}

// checkSize fails with mongosession.ErrTooLarge when doc cannot be sent.
func checkSize(doc any) error {
	b, err := bson.Marshal(doc)
	if err != nil {
		return fmt.Errorf("httpsession: encoding the session: %w", err)
	}
	if len(b) > mongosession.MaxDocumentSize {
		return fmt.Errorf("%w: %d bytes", mongosession.ErrTooLarge, len(b))
	}
	return nil
}
