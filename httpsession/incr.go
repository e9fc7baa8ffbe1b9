package httpsession

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"time"

	"github.com/mongosession/mongosession/internal/servererr"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Incr adds n to the integer value of key (a missing key counts from 0)
// and returns the new value: one findAndModify on the token's filter ($inc
// of this key, the last-seen time and expiry) that also returns the
// session's values, so concurrent Incr calls never lose a count. A value
// this request Put, removed or cleared is its own: Incr changes it locally.
// Without a stored session (no cookie, or one naming no live session) Incr
// stores a new one at once (one insert), or fails with ErrHeadersWritten
// once the response's headers are out; a session another request ended or
// renewed fails with ErrSessionEnded. With EncryptionKeys, Incr reads the
// session and compares and swaps the sealed value, failing with
// ErrContention after 64 tries or the store's Timeout. ErrNotInteger, ErrOverflow and ErrTooManyKeys say
// why nothing was written; a store failure returns the store's error.
func (m *Manager) Incr(ctx context.Context, key string, n int64) (int64, error) {
	st := m.lock(ctx)
	if st == nil {
		return 0, ErrNoSession
	}
	defer st.mu.Unlock()
	ctx = context.WithoutCancel(ctx)
	if m.encrypted { // bounds the compare-and-swap loop
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, m.be.Timeout())
		defer cancel()
	}
	if st.renew {
		if err := m.save(ctx, st); err != nil {
			return 0, err
		}
	}
	for attempt := range casAttempts {
		_, local := st.dirty[key]
		switch {
		case st.phase == fenced:
			return 0, fmt.Errorf("%w: Incr of %q", ErrSessionEnded, key)
		case st.phase == fresh || st.phase == ended:
			return m.incrLocal(ctx, st, key, n, true)
		case local || st.clear:
			return m.incrLocal(ctx, st, key, n, false)
		case st.phase == pending && m.encrypted:
			if err := m.load(ctx, st); err != nil {
				return 0, err
			}
			continue
		}
		var total int64
		var done bool
		var err error
		if st.phase == live {
			if total, err = m.incrCheck(st, key, n); err != nil {
				return 0, err
			}
		}
		if m.encrypted {
			done, err = m.incrSealed(ctx, st, key, total)
		} else {
			total, done, err = m.incrServer(ctx, st, key, n)
		}
		if done || err != nil {
			return total, err
		}
		// Missed: the session ended, was renewed, is unknown, a guard
		// (overflow, MaxKeys) refused, or (encrypted) another request
		// changed the key. One find tells; the next turn acts. Racing
		// compare-and-swaps back off first, jittered, growing to at most
		// 20 ms, so that they spread out instead of colliding again.
		if m.encrypted {
			select {
			case <-time.After(time.Duration(rand.Int64N(int64(min(attempt+1, 20)) * int64(time.Millisecond)))):
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
		if err := m.load(ctx, st); err != nil {
			return 0, err
		}
	}
	return 0, fmt.Errorf("%w: Incr of %q", ErrContention, key)
}

// incrCheck returns the value of key plus n as the request sees it, or the
// error that Incr must return: not an integer, overflow, a new key beyond
// MaxKeys.
func (m *Manager) incrCheck(st *state, key string, n int64) (int64, error) {
	v, exists := st.vals[key]
	cur, ok := int64(0), true
	if exists {
		cur, ok = asInt64(v)
	}
	switch {
	case !ok:
		return 0, fmt.Errorf("%w: Incr of %q", ErrNotInteger, key)
	case n > 0 && cur > math.MaxInt64-n, n < 0 && cur < math.MinInt64-n:
		return 0, fmt.Errorf("%w: Incr of %q", ErrOverflow, key)
	case !exists && m.maxKeys() >= 0 && len(st.vals) >= m.maxKeys():
		return 0, fmt.Errorf("%w: Incr of %q", ErrTooManyKeys, key)
	}
	return cur + n, nil
}

// incrLocal is Incr of a value the request holds: changed in the request,
// and with insert, stored at once as a new session.
func (m *Manager) incrLocal(ctx context.Context, st *state, key string, n int64, insert bool) (int64, error) {
	total, err := m.incrCheck(st, key, n)
	if err != nil {
		return 0, err
	}
	if insert && st.committed {
		return 0, ErrHeadersWritten
	}
	vals, dirty := maps.Clone(st.vals), maps.Clone(st.dirty)
	st.vals[key], st.dirty[key] = int64Value(total), true
	if insert {
		if err := m.insert(ctx, st, time.Now()); err != nil {
			st.vals, st.dirty = vals, dirty // not counted
			return 0, err
		}
	}
	return total, nil
}

var findAfter = options.FindOneAndUpdate().SetReturnDocument(options.After)

// incrServer sends Incr's findAndModify. done is false when it matched
// nothing.
func (m *Manager) incrServer(ctx context.Context, st *state, key string, n int64) (total int64, done bool, err error) {
	path := fieldSession + "." + encodeKey(key)
	now := time.Now()
	filter := m.filter(st, now)
	var cond bson.D // on the counter: no overflow; a new key only within MaxKeys
	switch {
	case n > 0:
		cond = bson.D{{Key: "$not", Value: bson.D{{Key: "$gt", Value: int64(math.MaxInt64) - n}}}}
	case n < 0:
		cond = bson.D{{Key: "$not", Value: bson.D{{Key: "$lt", Value: int64(math.MinInt64) - n}}}}
	}
	if len(cond) > 0 {
		filter = append(filter, bson.E{Key: path, Value: cond})
	}
	if guard := m.keysGuard(st, 1); guard != nil {
		// An existing key, or a new one within MaxKeys.
		exists := bson.D{{Key: path, Value: bson.D{{Key: "$exists", Value: true}}}}
		filter = append(filter, bson.E{Key: "$or", Value: bson.A{exists, guard}})
	}
	update := bson.D{
		{Key: "$inc", Value: bson.D{{Key: path, Value: n}}},
		{Key: "$set", Value: m.stamps(st, now)},
		{Key: "$addToSet", Value: bson.D{{Key: fieldKeys, Value: encodeKey(key)}}},
	}
	var raw bson.Raw
	err = m.do(ctx, "incrementing a counter", func(ctx context.Context, coll *mongo.Collection) error {
		var err error
		raw, err = coll.FindOneAndUpdate(ctx, filter, update, findAfter).Raw()
		if errors.Is(err, mongo.ErrNoDocuments) {
			raw, err = nil, nil
		}
		return err
	})
	switch {
	case st.phase == pending && shapeRefused(err):
		return 0, false, nil // a miss: the find that follows tells
	case servererr.Has(err, servererr.TypeMismatch, servererr.BadValue):
		// $inc of a value that is not a number.
		return 0, true, fmt.Errorf("%w: Incr of %q: %v", ErrNotInteger, key, err)
	case err != nil || raw == nil:
		return 0, err != nil, err
	}
	if err := m.adopt(st, raw); err != nil {
		return 0, true, err
	}
	total, ok := asInt64(st.vals[key])
	if !ok {
		return 0, true, fmt.Errorf("%w: Incr of %q", ErrNotInteger, key)
	}
	return total, true, nil
}

func int64Value(n int64) bson.RawValue {
	t, data, _ := bson.MarshalValue(n)
	return bson.RawValue{Type: t, Value: data}
}

// casAttempts bounds Incr's attempts (an encrypted Incr's compare-and-
// swap loop; unencrypted, a few suffice).
const casAttempts = 64

// incrSealed is Incr on an encrypted store, of a live session: compare and
// swap of the sealed value, storing total. done is false when it matched
// nothing: the key changed, or the session ended.
func (m *Manager) incrSealed(ctx context.Context, st *state, key string, total int64) (done bool, err error) {
	field := encodeKey(key)
	path := fieldSession + "." + field
	next := int64Value(total)
	sv, err := m.storeValue(st.sel, field, st.owner, next)
	if err != nil {
		return false, err
	}
	now := time.Now()
	filter := m.filter(st, now)
	if old, ok := st.sealed[key]; ok {
		filter = append(filter, bson.E{Key: path, Value: old})
	} else {
		filter = append(filter, bson.E{Key: path, Value: bson.D{{Key: "$exists", Value: false}}})
	}
	update := bson.D{
		{Key: "$set", Value: append(bson.D{{Key: path, Value: sv}}, m.stamps(st, now)...)},
		{Key: "$addToSet", Value: bson.D{{Key: fieldKeys, Value: field}}},
	}
	matched, err := m.updateOne(ctx, "incrementing a counter", filter, update)
	if matched {
		st.vals[key], st.sealed[key], st.seen = next, sv.(bson.Binary), now
	}
	return matched, err
}
