package httpsession

import (
	"context"
	"fmt"
	"strconv"
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
//     having read the session (with EncryptionKeys, a find first). When it
//     matches nothing, one find tells why: an unknown or expired session
//     makes the changes a new one (insert), a live one that the MaxKeys
//     guard refused fails with ErrTooManyKeys, a renewed one stores nothing;
//   - live: one update when something changed, or, once per TouchAfter,
//     of the last-seen time and expiry only; when it matches nothing the
//     session ended or was renewed meanwhile: it stays so, the request is
//     fenced and its cookie left alone;
//   - fenced, or nothing changed: nothing.
//
// A write that both adds and removes keys sends one more update, for the
// names it removes from the keys array (see changes).
//
// A RenewToken is written with the changes, as part of the update: a new
// v, its time, and pv (the old v) only when the request read the session
// and the renewal keeps its non-empty user.
func (m *Manager) save(ctx context.Context, st *state) error {
	if st.err != nil {
		return st.err
	}
	if st.phase == pending && st.changed() && m.encrypted { // sealing needs the user
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
	update, pull, err := m.changes(st, now, set, unset)
	if err != nil {
		return err
	}
	filter := m.filter(st, now)
	if st.phase == pending {
		filter = append(filter, m.keysGuard(st, st.puts())...)
	}
	matched, err := m.updateOne(ctx, "saving a session", filter, update)
	if err != nil && (st.phase != pending || !shapeRefused(err)) {
		return err
	}
	switch {
	case matched:
		if st.renew {
			st.hash, st.token, st.renew = hash, st.sel+verifier, false
		}
		if pull != nil {
			// Filtered on the new v: the session as this request just left
			// it. The changes are saved: a failure here only leaves keys
			// naming too many (a stricter guard), so it is reported, not
			// answered with an error page that would lose a new cookie.
			if _, err := m.updateOne(ctx, "saving a session's keys", m.filter(st, now), pull); err != nil {
				m.report("pulling removed keys from keys", err)
			}
		}
		st.saved(now)
		return nil
	case st.phase == live:
		st.forget(fenced)
		return nil
	}
	// Missed, refused by the guard or by a malformed document: one find
	// tells why (a malformed session is unknown), and save again.
	if err := m.load(ctx, st); err != nil {
		return err
	}
	return m.save(ctx, st)
}

// updateOne sends one update and reports whether it matched. The server's
// refusal of a document that would exceed its size limit (the session
// stays as it was) is mongosession.ErrTooLarge.
func (m *Manager) updateOne(ctx context.Context, op string, filter, update bson.D) (bool, error) {
	var matched bool
	err := m.do(ctx, op, func(ctx context.Context, coll *mongo.Collection) error {
		res, err := coll.UpdateOne(ctx, filter, update)
		matched = err == nil && res.MatchedCount > 0
		return err
	})
	if servererr.Has(err, servererr.DocumentTooLarge, servererr.UpdatedDocumentTooLarge) {
		err = fmt.Errorf("%w: %w", mongosession.ErrTooLarge, err)
	}
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

// shapeRefused reports whether err is the server's refusal of a write to
// a document whose fields do not have the shape this package writes
// ("session" not a document, "keys" not an array, a value not a number).
// For a write that has not read the session, that is a miss: the find
// that follows tells.
func shapeRefused(err error) bool {
	return servererr.Has(err, servererr.PathNotViable, servererr.BadValue, servererr.TypeMismatch)
}

// keysGuard returns the filter condition that lets a write adding up to n
// keys to a session it has not read match only while the session keeps
// within MaxKeys, or nil when no check is needed: the keys array, which
// names every stored key, must have no element at index max-n. It counts
// every key as new: near the limit the write misses, and save reads the
// session to decide exactly. n <= max: Put fails the request earlier.
func (m *Manager) keysGuard(st *state, n int) bson.D {
	max := m.maxKeys()
	if max < 0 || n == 0 || st.clear {
		return nil
	}
	return bson.D{{Key: fieldKeys + "." + strconv.Itoa(max-n), Value: bson.D{{Key: "$exists", Value: false}}}}
}

// changes returns the update that writes st's pending changes, the
// last-seen time and the expiry at now, plus set and unset; and pull, nil
// unless a second update is needed. With EncryptionKeys, values are sealed
// to the user they are stored with: a change of user writes every value
// anew (st is live then: see save).
//
// Every write keeps the keys array naming exactly the stored keys, in the
// same command: $addToSet of the keys it adds, $pullAll of those it
// removes, or $set of them all with the whole session. One update cannot
// both add to and pull from one array, so a write that does both pulls in
// a second update (pull); in between, keys names too many, which only
// makes keysGuard stricter.
func (m *Manager) changes(st *state, now time.Time, set, unset bson.D) (update, pull bson.D, err error) {
	set = append(set, m.stamps(st, now)...)
	var added, removed bson.A
	stored := map[string]int{} // the stored sizes of the values this write sets
	if st.clear || (m.encrypted && st.userSet && st.user != st.owner) {
		doc, err := m.sessionDoc(st, st.sel)
		if err != nil {
			return nil, nil, err
		}
		set = append(set, bson.E{Key: fieldSession, Value: doc}, bson.E{Key: fieldKeys, Value: fieldNames(doc)})
	} else {
		for key, put := range st.dirty {
			field := encodeKey(key)
			path := fieldSession + "." + field
			if !put {
				unset = append(unset, bson.E{Key: path, Value: ""})
				removed = append(removed, field)
				continue
			}
			v, err := m.storeValue(st.sel, field, st.user, st.vals[key])
			if err != nil {
				return nil, nil, err
			}
			set = append(set, bson.E{Key: path, Value: v})
			added = append(added, field)
			stored[key] = storedSize(v)
		}
		if st.phase == live && m.tooLarge(st, stored) {
			return nil, nil, fmt.Errorf("%w: the session's values would exceed %d bytes", mongosession.ErrTooLarge, mongosession.MaxDocumentSize)
		}
	}
	if st.userSet && st.user == "" {
		unset = append(unset, bson.E{Key: fieldUser, Value: ""})
	} else if st.userSet {
		set = append(set, bson.E{Key: fieldUser, Value: st.user})
	}
	update = bson.D{{Key: "$set", Value: set}}
	if len(unset) > 0 {
		update = append(update, bson.E{Key: "$unset", Value: unset})
	}
	if len(removed) > 0 {
		pull = bson.D{{Key: "$pullAll", Value: bson.D{{Key: fieldKeys, Value: removed}}}}
	}
	if len(added) > 0 {
		update = append(update, bson.E{Key: "$addToSet", Value: bson.D{{Key: fieldKeys, Value: bson.D{{Key: "$each", Value: added}}}}})
	} else if pull != nil {
		update, pull = append(update, pull...), nil
	}
	return update, pull, checkSize(update)
}

// tooLarge reports whether the document of a live session would exceed
// mongosession.MaxDocumentSize once the request's per-key changes are
// stored (stored holds the stored sizes of the values it sets): each value
// under session and its name in keys, plus at most 1 KiB and the user for
// the other fields. A write that has not read the session cannot know:
// the server refuses it (see updateOne), and the stored session stays.
func (m *Manager) tooLarge(st *state, stored map[string]int) bool {
	n := 1024 + len(st.user)
	for key, v := range st.vals {
		size, ok := stored[key]
		switch {
		case ok:
		case m.encrypted:
			size = storedSize(st.sealed[key])
		default:
			size = len(v.Value)
		}
		n += 2*len(encodeKey(key)) + 16 + size // 1+len+1 under session, about len+12 in keys
	}
	return n > mongosession.MaxDocumentSize
}

// storedSize is the size of the BSON value v (a bson.RawValue or the
// bson.Binary of a sealed one).
func storedSize(v any) int {
	switch v := v.(type) {
	case bson.RawValue:
		return len(v.Value)
	case bson.Binary:
		return 5 + len(v.Data)
	}
	return 0
}

// fieldNames returns the names of doc's fields.
func fieldNames(doc bson.D) bson.A {
	names := make(bson.A, len(doc))
	for i, e := range doc {
		names[i] = e.Key
	}
	return names
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
		{Key: fieldKeys, Value: fieldNames(values)},
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
