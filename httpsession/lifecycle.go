package httpsession

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"time"

	"github.com/mongosession/mongosession"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Incr adds n to the integer value of key and returns the new value. The
// addition is applied at once on the server, atomically, with one
// findAndModify ($inc of this key, and the session's last-seen time and
// expiry), so concurrent Incr calls of one session never lose a count. A
// missing key counts from 0.
//
// When this request already Put or removed key, the value is the request's
// own and Incr changes it locally (saved with the request). In a new
// session (the request came without a live session), Incr stores the
// session at once (one insert). When another request renewed the token
// during this one, keeping its user, the findAndModify misses and Incr
// counts on the successor instead (one find, one more findAndModify; see
// chase), leaving the cookie to the renewal's response; the request goes
// on with the successor, but can no longer renew its token. A renewal that
// changed the user (a login, a logout, a switch of user) is a change of
// privilege that a request loaded before it must not cross: Incr then
// fails with ErrSessionEnded, as it does when the request's session ended
// during the request (destroyed, revoked or expired), or when its cookie
// names a session renewed less than 30 seconds ago. Incr
// neither brings the session back nor starts a new one, whose cookie would
// replace a renewed session's. Once
// the response's headers are written, Incr cannot start a session (its
// cookie could not be sent) and returns ErrHeadersWritten instead.
//
// With the store's EncryptionKeys the server cannot add to a ciphertext:
// Incr then compares and swaps the sealed value (one update when no other
// request changed the key meanwhile, a find and another try when one did),
// and fails with ErrContention after 64 tries (with a jittered backoff
// between them), or the store's Timeout. A value that is not an
// integer fails with ErrNotInteger; a store failure with the store's error.
func (m *Manager) Incr(ctx context.Context, key string, n int64) (int64, error) {
	st := m.state(ctx)
	if st == nil {
		return 0, ErrNoSession
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.gone {
		return 0, fmt.Errorf("%w: Incr of %q", ErrSessionEnded, key)
	}
	if _, local := st.dirty[key]; local || st.clear || !st.stored {
		cur, ok := int64(0), true
		if v, exists := st.vals[key]; exists {
			cur, ok = asInt64(v)
		}
		if !ok {
			return 0, fmt.Errorf("%w: Incr of %q", ErrNotInteger, key)
		}
		if !st.stored && st.committed {
			return 0, ErrHeadersWritten // the new session's cookie could not be sent
		}
		prev, had := st.vals[key]
		prevDirty, wasDirty := st.dirty[key]
		st.vals[key] = int64Value(cur + n)
		st.dirty[key] = true
		if st.stored {
			return cur + n, nil
		}
		if err := m.insert(context.WithoutCancel(ctx), st); err != nil {
			// Not counted: the request's session is as it was.
			if had {
				st.vals[key] = prev
			} else {
				delete(st.vals, key)
			}
			if wasDirty {
				st.dirty[key] = prevDirty
			} else {
				delete(st.dirty, key)
			}
			return 0, err
		}
		return cur + n, nil
	}
	if m.encrypted {
		return m.incrSealed(ctx, st, key, n)
	}
	field := encodeKey(key)
	path := fieldSession + "." + field
	now := time.Now()
	update := bson.D{
		{Key: "$inc", Value: bson.D{{Key: path, Value: n}}},
		{Key: "$set", Value: bson.D{
			{Key: m.expiresKey(), Value: bson.NewDateTimeFromTime(m.deadline(st.created, now))},
			{Key: fieldLastSeen, Value: bson.NewDateTimeFromTime(now)},
		}},
	}
	var raw bson.Raw
	apply := func(ctx context.Context, id string) (bool, error) {
		err := m.do(ctx, "incrementing a counter", func(ctx context.Context, coll *mongo.Collection) error {
			var err error
			raw, err = coll.FindOneAndUpdate(ctx, m.writeFilter(st, id, now), update, findAfter).Raw()
			if errors.Is(err, mongo.ErrNoDocuments) {
				raw, err = nil, nil
			}
			return err
		})
		var se mongo.ServerError
		if errors.As(err, &se) && (se.HasErrorCode(14) || se.HasErrorCode(2)) {
			// TypeMismatch / BadValue: $inc of a value that is not a number.
			return false, fmt.Errorf("%w: Incr of %q: %v", ErrNotInteger, key, err)
		}
		return raw != nil, err
	}
	ctx = context.WithoutCancel(ctx)
	ok, err := apply(ctx, st.id)
	if err != nil {
		return 0, err
	}
	if !ok {
		// Ended during this request (never bring it back), or renewed by
		// another request: count on the successor.
		id, err := m.chase(ctx, st.id, st.start, apply)
		if err != nil {
			return 0, err
		}
		if id == "" {
			st.lost()
			return 0, fmt.Errorf("%w: Incr of %q", ErrSessionEnded, key)
		}
		st.follow(id)
	}
	v, err := raw.LookupErr(fieldSession, field)
	if err != nil {
		return 0, fmt.Errorf("%w: the counter is missing from the updated session", mongosession.ErrCorrupt)
	}
	total, ok := asInt64(v)
	if !ok {
		return 0, fmt.Errorf("%w: Incr of %q", ErrNotInteger, key)
	}
	st.vals[key] = v
	st.seen = now
	return total, nil
}

// findLive reads st's session as stored under id (see writeFilter), or nil.
func (m *Manager) findLive(ctx context.Context, coll *mongo.Collection, st *state, id string) (bson.Raw, error) {
	raw, err := coll.FindOne(ctx, m.writeFilter(st, id, time.Now())).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	return raw, err
}

func int64Value(n int64) bson.RawValue {
	t, data, _ := bson.MarshalValue(n)
	return bson.RawValue{Type: t, Value: data}
}

// casAttempts bounds the compare-and-swap loop of an encrypted Incr.
const casAttempts = 64

// incrSealed is Incr on an encrypted store: compare-and-swap of the sealed
// value.
func (m *Manager) incrSealed(ctx context.Context, st *state, key string, n int64) (int64, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.opTimeout())
	defer cancel()
	field := encodeKey(key)
	path := fieldSession + "." + field
	for attempt := range casAttempts {
		if attempt > 0 {
			// Jittered backoff, growing to at most 20 ms, so that racing
			// requests spread out instead of colliding again.
			d := time.Duration(rand.Int64N(int64(min(attempt, 20)) * int64(time.Millisecond)))
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
		cur, ok := int64(0), true
		held, had := st.vals[key]
		if had {
			cur, ok = asInt64(held)
		}
		// A value the request holds without its stored ciphertext is not
		// known to be what the session stores (after a follow, the value
		// came with the old session): read the session before comparing,
		// lest a filter on the key's absence match a successor where
		// another request removed it, and the stale value be written.
		_, known := st.sealed[key]
		stale := had && !known
		if !ok && !stale {
			return 0, fmt.Errorf("%w: Incr of %q", ErrNotInteger, key)
		}
		next := int64Value(cur + n)
		sv, err := m.storeValue(st.id, field, next)
		if err != nil {
			return 0, err
		}
		now := time.Now()
		filter := m.writeFilter(st, st.id, now)
		if old, exists := st.sealed[key]; exists {
			filter = append(filter, bson.E{Key: path, Value: old})
		} else {
			filter = append(filter, bson.E{Key: path, Value: bson.D{{Key: "$exists", Value: false}}})
		}
		update := bson.D{{Key: "$set", Value: bson.D{
			{Key: path, Value: sv},
			{Key: m.expiresKey(), Value: bson.NewDateTimeFromTime(m.deadline(st.created, now))},
			{Key: fieldLastSeen, Value: bson.NewDateTimeFromTime(now)},
		}}}
		var matched bool
		var raw bson.Raw
		err = m.do(ctx, "incrementing a counter", func(ctx context.Context, coll *mongo.Collection) error {
			if !stale {
				res, err := coll.UpdateOne(ctx, filter, update)
				if err != nil {
					return err
				}
				if matched = res.MatchedCount > 0; matched {
					return nil
				}
			}
			// Someone else changed the key, the session ended, or the
			// request's value is stale: read it.
			var err error
			raw, err = m.findLive(ctx, coll, st, st.id)
			return err
		})
		if err != nil {
			return 0, err
		}
		if !matched && raw == nil {
			// Ended, or renewed by another request: read the successor.
			id, err := m.chase(ctx, st.id, st.start, func(ctx context.Context, id string) (bool, error) {
				err := m.do(ctx, "incrementing a counter", func(ctx context.Context, coll *mongo.Collection) error {
					var err error
					raw, err = m.findLive(ctx, coll, st, id)
					return err
				})
				return raw != nil, err
			})
			if err != nil {
				return 0, err
			}
			if id != "" {
				st.follow(id)
			}
		}
		if matched {
			st.vals[key] = next
			if st.sealed == nil {
				st.sealed = map[string]bson.Binary{}
			}
			st.sealed[key] = sv.(bson.Binary)
			st.seen = now
			return cur + n, nil
		}
		if raw == nil {
			st.lost()
			return 0, fmt.Errorf("%w: Incr of %q", ErrSessionEnded, key)
		}
		v, err := raw.LookupErr(fieldSession, field)
		switch {
		case err != nil:
			delete(st.vals, key)
			delete(st.sealed, key)
		default:
			sub, data, ok := v.BinaryOK()
			if !ok {
				return 0, fmt.Errorf("%w: an unencrypted value, but the store has EncryptionKeys", mongosession.ErrCorrupt)
			}
			plain, err := m.openValue(st.id, field, v)
			if err != nil {
				return 0, err
			}
			st.vals[key] = plain
			if st.sealed == nil {
				st.sealed = map[string]bson.Binary{}
			}
			st.sealed[key] = bson.Binary{Subtype: sub, Data: data}
		}
	}
	return 0, fmt.Errorf("%w: Incr of %q", ErrContention, key)
}

// RenewToken gives the request's session a new token, as after a login or
// any change of privilege (against session fixation). Two round trips:
//
//  1. one findAndModify fences the old document, if it is still live: it
//     points at its successor ("next"), which makes it no longer live,
//     records the fence's time ("renewed"), loses its values and
//     User-Agent, and expires in ten minutes; it comes back as it was, with what other requests saved since
//     this one loaded it. From then on the old token loads nothing, and
//     other requests' updates of the old document miss, as they do after
//     a logout;
//  2. one insert stores the session under the new token: the fresh copy's
//     values with this request's own changes (Put, Remove, Clear, SetUser)
//     applied on top, its user, and its creation time and User-Agent (the
//     absolute lifetime runs on). If the insert fails, the old document is
//     restored (unless a logout deleted the tombstone meanwhile: the
//     session then stays logged out).
//
// The old document stays as a tombstone, without values or User-Agent,
// for ten minutes (then the store's TTL index or reaper removes it); it
// carries the successor's _id in "next", which no live filter matches, and
// the fence's time in "renewed" (for 30 seconds after it, a request with
// the old token is taken for one racing the renewal; later, for a browser
// the renewal's response never reached, which gets a new session):
// Destroy and RevokeSession from a request that loaded the old session
// follow it to the successor and end that too, even when they run between
// the fence and the insert (the insert then fails and RenewToken ends the
// request's session). The new cookie is sent with the
// response.
//
// A session not stored yet needs nothing: it gets a fresh token when it is
// first saved (a cookie naming no stored session is never adopted). When
// the session ended during the request (revoked, logged out elsewhere,
// idled out, or renewed by another request, as a double-submitted login
// form does), nothing is written and RenewToken returns ErrSessionEnded;
// the request's cookie is left as it is. So it does after the request
// went on with the successor of another request's renewal (a save or Incr
// that renewal overtook, see Incr): the request holds only the old token,
// and is never given one for the successor. In both cases the request's
// later changes are not saved.
//
// Call it before the response is written: afterwards the new cookie could
// not be sent, and RenewToken returns ErrHeadersWritten without touching
// the store.
func (m *Manager) RenewToken(ctx context.Context) error {
	st := m.state(ctx)
	if st == nil {
		return ErrNoSession
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.committed {
		return ErrHeadersWritten
	}
	if st.gone {
		return ErrSessionEnded
	}
	if st.followed {
		// The request went on with a successor another request's renewal
		// stored: it is authenticated by the old token only, and must never
		// be handed a token of that session.
		st.lost()
		return ErrSessionEnded
	}
	if !st.stored {
		return nil
	}
	ctx = context.WithoutCancel(ctx)
	token, err := newToken()
	if err != nil {
		return err
	}
	oldID, newID := st.id, mongosession.HashID(token)
	at := bson.NewDateTimeFromTime(time.Now())
	old, err := m.fence(ctx, oldID, newID, at)
	if err != nil {
		return err
	}
	if old == nil {
		st.lost()
		return ErrSessionEnded
	}
	fresh, agent, err := m.renewed(st, oldID, old)
	if err == nil {
		vals, sealed, user, created := st.vals, st.sealed, st.user, st.created
		st.vals, st.sealed, st.user, st.created = fresh.vals, nil, fresh.user, fresh.created
		if err = m.insertAs(ctx, st, token, agent); err != nil {
			st.vals, st.sealed, st.user, st.created = vals, sealed, user, created
		}
		if errors.Is(err, errSuccessorEnded) {
			// A logout or revocation ended the old session and its
			// successor while this request renewed it.
			st.lost()
			return ErrSessionEnded
		}
	}
	if err != nil {
		if rerr := m.unfence(ctx, oldID, newID, at, old); rerr != nil {
			m.report("restoring a session after a failed renewal", rerr)
		}
		return err
	}
	return nil
}

// tombstoneLife is how long a renewed session's tombstone, and the stub
// that ends a successor, stay before the TTL index or reaper removes them:
// long enough for any request that loaded the old session before its
// renewal to follow the tombstone (Destroy, RevokeSession) or be blocked
// by the stub. Neither is ever live: they carry fieldNext, which every
// live filter excludes.
const tombstoneLife = 10 * time.Minute

func tombstoneExpiry() bson.DateTime { return bson.NewDateTimeFromTime(time.Now().Add(tombstoneLife)) }

// stub is the document that ends a renewed session's successor: no user,
// no values, an empty fieldNext (nothing follows).
func (m *Manager) stub(id string) bson.D {
	return bson.D{{Key: "_id", Value: id}, {Key: m.expiresKey(), Value: tombstoneExpiry()}, {Key: fieldNext, Value: ""}}
}

// fence turns the live session oldID into a tombstone pointing at newID,
// fenced at at, and returns the document as it was (nil when it is no
// longer live): one findAndModify.
func (m *Manager) fence(ctx context.Context, oldID, newID string, at bson.DateTime) (bson.Raw, error) {
	update := bson.D{
		{Key: "$set", Value: bson.D{
			{Key: m.expiresKey(), Value: tombstoneExpiry()},
			{Key: fieldNext, Value: newID},
			{Key: fieldRenewed, Value: at},
		}},
		{Key: "$unset", Value: bson.D{{Key: fieldSession, Value: ""}, {Key: fieldAgent, Value: ""}}},
	}
	var old bson.Raw
	err := m.do(ctx, "renewing a token", func(ctx context.Context, coll *mongo.Collection) error {
		var err error
		old, err = coll.FindOneAndUpdate(ctx, m.liveFilter(oldID, time.Now()), update).Raw()
		if errors.Is(err, mongo.ErrNoDocuments) {
			old, err = nil, nil
		}
		return err
	})
	return old, err
}

// unfence puts back the document fence returned, if it is still the
// tombstone that fence left (same successor, same fence time at): one
// replace. A tombstone that a logout deleted and put back (see
// restoreTombstone) has no fence time and is left as it is: the session
// stays logged out.
func (m *Manager) unfence(ctx context.Context, oldID, newID string, at bson.DateTime, old bson.Raw) error {
	return m.do(ctx, "restoring a session after a failed renewal", func(ctx context.Context, coll *mongo.Collection) error {
		filter := bson.D{{Key: "_id", Value: oldID}, {Key: fieldNext, Value: newID}, {Key: fieldRenewed, Value: at}}
		_, err := coll.ReplaceOne(ctx, filter, old)
		return err
	})
}

// renewed returns the session to store under a new token: the fenced
// document old (read under oldID) with st's own changes applied, and the
// User-Agent that created it.
func (m *Manager) renewed(st *state, oldID string, old bson.Raw) (*state, string, error) {
	fresh := &state{vals: map[string]bson.RawValue{}, dirty: map[string]bool{}}
	if err := m.decode(fresh, oldID, old); err != nil {
		return nil, "", err
	}
	agent := st.agent
	if v, err := old.LookupErr(fieldAgent); err == nil {
		agent = m.openAgent(oldID, v)
	}
	if st.clear {
		fresh.vals = maps.Clone(st.vals)
	} else {
		for key, put := range st.dirty {
			if put {
				fresh.vals[key] = st.vals[key]
			} else {
				delete(fresh.vals, key)
			}
		}
	}
	if st.userDirty {
		fresh.user = st.user
	}
	return fresh, agent, nil
}

// Destroy deletes the request's session at once and clears its cookie with
// the response: one findAndModify that deletes the document by _id. Whatever
// other requests of the session still do, it stays deleted: their saves are
// updates without upsert. When another request renewed the token since this
// one loaded the session, or the request's cookie names a renewed session's
// tombstone (a logout sent with the old cookie while the login's response
// is on its way), the tombstone is deleted and its successor ended too (one
// more command per renewal), so a logout racing a login or a privilege
// change still logs out. The tombstone lasts ten minutes: until then,
// anyone holding the token from before a renewal (a login) can end the
// renewed session this way, whatever its user; nothing else of it. The
// request goes on with a new, empty session,
// which is stored only if the request puts something in it. A session not
// stored yet is simply emptied.
func (m *Manager) Destroy(ctx context.Context) error {
	st := m.state(ctx)
	if st == nil {
		return ErrNoSession
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	ctx = context.WithoutCancel(ctx)
	if st.stored {
		if err := m.end(ctx, "destroying a session", bson.D{{Key: "_id", Value: st.id}}, ""); err != nil {
			return err
		}
	}
	if st.tomb != "" && st.tomb != st.id {
		if err := m.end(ctx, "destroying a session", bson.D{{Key: "_id", Value: st.tomb}}, ""); err != nil {
			return err
		}
	}
	st.reset()
	return nil
}

// maxSuccessors bounds how many renewals end follows from one session.
const maxSuccessors = 16

// errSuccessorEnded is returned by insertAs when a document already has the
// new session's _id: ending the renewed session left a dead stub there, so
// the renewal must not go on.
var errSuccessorEnded = errors.New("httpsession: the session was ended while its token was renewed")

// errTooManyRenewals is returned by endSuccessors when a chain of renewals
// is longer than maxSuccessors.
var errTooManyRenewals = fmt.Errorf("httpsession: a session was renewed more than %d times within ten minutes; its later successors were not ended", maxSuccessors)

// end deletes the document filter matches (one findAndModify) and, when it
// is a renewed session's tombstone, ends its successor and theirs in turn
// (with a user, only successors of that user: see endSuccessors). A missing
// document is not an error.
//
// The delete comes first, atomically, so that no renewal can slip a
// successor past it. When ending a successor then fails, the tombstone is
// put back (one insert), pointing at the successor that was not ended, so
// that a retry follows it again. The tombstone put back is not a live
// session and carries no "renewed": a renewal whose insert fails after it
// cannot restore the logged-out session (unfence requires its own fence's
// time), a save racing it does not follow it (see raced), and a load with
// its token gets a new session. If putting it back fails too (the server
// is gone), a retry finds nothing to follow: the successor ends only with
// its own expiry, or a logout or revocation of it.
func (m *Manager) end(ctx context.Context, op string, filter bson.D, user string) error {
	return m.do(ctx, op, func(ctx context.Context, coll *mongo.Collection) error {
		// No projection: FerretDB 1.x does not implement one on
		// findAndModify.
		raw, err := coll.FindOneAndDelete(ctx, filter).Raw()
		if errors.Is(err, mongo.ErrNoDocuments) {
			return nil
		}
		if err != nil {
			return err
		}
		next, _ := raw.Lookup(fieldNext).StringValueOK()
		at, err := m.endSuccessors(ctx, coll, next, user)
		if err != nil && at != "" {
			if rerr := m.restoreTombstone(ctx, coll, raw, at); rerr != nil {
				err = fmt.Errorf("%w (and the tombstone that leads to it could not be put back: %v)", err, rerr)
			}
		}
		return err
	})
}

// restoreTombstone inserts again the tombstone raw that end deleted, its
// "next" set to at, the successor end could not end, and without the
// renewal's fence time ("renewed"): it is a logout's mark now, which no
// renewal may undo (see unfence) and no racing save may follow.
func (m *Manager) restoreTombstone(ctx context.Context, coll *mongo.Collection, raw bson.Raw, at string) error {
	var in, doc bson.D
	if err := bson.Unmarshal(raw, &in); err != nil {
		return err
	}
	for _, e := range in {
		switch e.Key {
		case fieldRenewed:
			continue
		case fieldNext:
			e.Value = at
		}
		doc = append(doc, e)
	}
	// The failure may have been the context's: give the insert its own.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.opTimeout())
	defer cancel()
	_, err := coll.InsertOne(ctx, doc)
	return err
}

// endSuccessors ends the session next, which succeeded a renewed one, and
// its own successors in turn ("" is none): one command per renewal. With a
// user, only successors of that user are ended (and ones not inserted yet
// blocked): a renewal that switched users is left alone. On failure it
// returns the _id of the successor it could not end with the error; after
// maxSuccessors renewals it stops with errTooManyRenewals.
func (m *Manager) endSuccessors(ctx context.Context, coll *mongo.Collection, next, user string) (string, error) {
	for range maxSuccessors {
		if next == "" {
			return "", nil
		}
		n, err := m.kill(ctx, coll, next, user)
		if err != nil {
			return next, err
		}
		next = n
	}
	if next == "" {
		return "", nil
	}
	return next, errTooManyRenewals
}

// kill ends the successor id of a renewed session, and returns the
// successor's own successor, if it was renewed in turn. Without a user it
// replaces any document there with a dead stub, or inserts the stub when
// the renewal has not inserted the successor yet (so that its insert fails
// and it stops): one findAndModify with upsert. With a user, only a
// successor of that user is replaced, and a successor of another user is
// left as it is: one findAndModify, and one insert of the stub when there
// was nothing to replace.
func (m *Manager) kill(ctx context.Context, coll *mongo.Collection, id, user string) (string, error) {
	stub := m.stub(id)
	var raw bson.Raw
	var err error
	if user != "" {
		raw, err = coll.FindOneAndReplace(ctx, bson.D{{Key: "_id", Value: id}, {Key: fieldUser, Value: user}}, stub).Raw()
		if errors.Is(err, mongo.ErrNoDocuments) {
			// Not inserted yet (the stub now blocks it), or another user's,
			// or already ended: a duplicate key says one of the last two.
			if _, err := coll.InsertOne(ctx, stub); err != nil && !mongo.IsDuplicateKeyError(err) {
				return "", err
			}
			return "", nil
		}
	} else {
		opts := options.FindOneAndReplace().SetUpsert(true)
		for range 2 { // a racing insert of the successor can fail the upsert with E11000 once
			raw, err = coll.FindOneAndReplace(ctx, bson.D{{Key: "_id", Value: id}}, stub, opts).Raw()
			if !mongo.IsDuplicateKeyError(err) {
				break
			}
		}
		if errors.Is(err, mongo.ErrNoDocuments) {
			return "", nil // no successor yet: the stub now blocks it
		}
	}
	if err != nil {
		return "", err
	}
	next, _ := raw.Lookup(fieldNext).StringValueOK()
	return next, nil
}
