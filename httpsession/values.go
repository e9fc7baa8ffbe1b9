package httpsession

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Put sets key to val in the request's session, saved with the request
// ($set of this key only; without a read of the session unless the store
// encrypts values). A value BSON cannot encode (a channel, a func), a new
// key beyond MaxKeys, or a session that would exceed 16 MiB
// (mongosession.ErrTooLarge: refused before it is sent when the request
// has read the session, by the server otherwise) fails the save: nothing
// of the request is stored, and ErrorFunc answers. After the response was written, the
// change is saved when the handler returns (a failure goes to the store's
// logger and OnError; a session not stored yet cannot start then). A
// change to a session another request ended or renewed meanwhile is
// dropped. Without a session in ctx, Put only reports the mistake.
func (m *Manager) Put(ctx context.Context, key string, val any) {
	t, data, err := bson.MarshalValue(val)
	st := m.lock(ctx)
	if st == nil {
		m.report("Put", ErrNoSession)
		return
	}
	defer st.mu.Unlock()
	if err != nil {
		if st.err == nil {
			st.err = fmt.Errorf("httpsession: Put of a %T: %w", val, err)
		}
		return
	}
	_, exists := st.vals[key]
	st.vals[key] = bson.RawValue{Type: t, Value: data}
	st.dirty[key] = true
	count := len(st.vals) // known values: the session's keys
	if st.phase == pending {
		count = st.puts() // unknown: the guard on the write checks the rest
	}
	if max := m.maxKeys(); max >= 0 && !exists && count > max && st.err == nil {
		st.err = fmt.Errorf("%w (%d): Put of a new key", ErrTooManyKeys, max)
	}
}

// Remove deletes key from the request's session ($unset of this key only
// when the session is saved). A key missing from the session as this
// request has read it is a no-op.
func (m *Manager) Remove(ctx context.Context, key string) {
	st := m.lock(ctx)
	if st == nil {
		return
	}
	defer st.mu.Unlock()
	_, ok := st.vals[key]
	switch st.phase {
	case pending:
		st.dirty[key] = false
	case live:
		if ok {
			st.dirty[key] = false
		}
	default:
		delete(st.dirty, key) // nothing stored to unset
	}
	delete(st.vals, key)
}

// Clear removes every key from the request's session (the stored values
// are replaced as a whole when the session is saved, with any Put after
// Clear). The session itself, its token and its user stay.
func (m *Manager) Clear(ctx context.Context) {
	st := m.lock(ctx)
	if st == nil {
		return
	}
	defer st.mu.Unlock()
	st.vals = map[string]bson.RawValue{}
	st.dirty = map[string]bool{}
	st.clear = st.phase == pending || st.phase == live // nothing stored: nothing to replace
}

// Exists reports whether key is in the request's session.
func (m *Manager) Exists(ctx context.Context, key string) bool {
	_, ok := m.raw(ctx, key)
	return ok
}

// Keys returns the keys of the request's session, sorted.
func (m *Manager) Keys(ctx context.Context) []string {
	st := m.view(ctx)
	if st == nil {
		return nil
	}
	defer st.mu.Unlock()
	return append([]string{}, slices.Sorted(maps.Keys(st.vals))...) // never nil, as in scs
}

// view returns the request's session, locked, after reading it if the
// request has not: the first read of a request costs one find. A failure
// to read is kept for the save, which hands it to ErrorFunc; the request
// sees an empty session meanwhile. nil when ctx has no session.
func (m *Manager) view(ctx context.Context) *state {
	st := m.lock(ctx)
	if st != nil && st.phase == pending && st.err == nil {
		if err := m.load(context.WithoutCancel(ctx), st); err != nil {
			st.err = err
		}
	}
	return st
}

// raw returns the stored value of key.
func (m *Manager) raw(ctx context.Context, key string) (bson.RawValue, bool) {
	st := m.view(ctx)
	if st == nil {
		return bson.RawValue{}, false
	}
	defer st.mu.Unlock()
	v, ok := st.vals[key]
	return v, ok
}

// Get returns the value of key, or nil when it is missing. Values are
// stored as BSON values and come back as what BSON holds:
//
//	string          string
//	bool            bool
//	int, int8..32   int32 when it fits (Get returns int), else int64
//	int64           int64 (Get returns int64)
//	float32/64      float64
//	[]byte          binary ([]byte)
//	time.Time       date (UTC, millisecond precision)
//	struct, map     document (Get returns bson.D; use Decode)
//	slice           array (Get returns bson.A; use Decode)
//
// The typed getters convert between the integer and float forms where no
// precision is lost, so primitives round-trip as they do in scs. A map's
// keys become field names of a sub-document: use keys that are valid
// MongoDB field names (no leading "$", no "."), or the save fails.
func (m *Manager) Get(ctx context.Context, key string) any {
	v, ok := m.raw(ctx, key)
	if !ok {
		return nil
	}
	return goValue(v)
}

func goValue(v bson.RawValue) any {
	switch v.Type {
	case bson.TypeString:
		return v.StringValue()
	case bson.TypeBoolean:
		return v.Boolean()
	case bson.TypeInt32:
		return int(v.Int32())
	case bson.TypeInt64:
		return v.Int64()
	case bson.TypeDouble:
		return v.Double()
	case bson.TypeDateTime:
		return v.Time().UTC()
	case bson.TypeBinary:
		_, b := v.Binary()
		return append([]byte(nil), b...)
	case bson.TypeNull, bson.TypeUndefined:
		return nil
	}
	var out any
	if err := v.Unmarshal(&out); err != nil {
		return nil
	}
	return out
}

// Decode decodes the value of key into dst (a pointer to a struct, map,
// slice or any other type the driver's bson package decodes into),
// following bson struct tags. found is false, with a nil error, when key is
// missing; the error reports a value that does not fit dst.
func (m *Manager) Decode(ctx context.Context, key string, dst any) (found bool, err error) {
	v, ok := m.raw(ctx, key)
	if !ok {
		return false, nil
	}
	if err := v.Unmarshal(dst); err != nil {
		return true, fmt.Errorf("httpsession: decoding %q into %T: %w", key, dst, err)
	}
	return true, nil
}

// GetString returns the string value of key, or "" when it is missing or
// not a string.
func (m *Manager) GetString(ctx context.Context, key string) string {
	v, _ := m.raw(ctx, key)
	s, _ := v.StringValueOK()
	return s
}

// GetBool returns the bool value of key, or false when it is missing or
// not a bool.
func (m *Manager) GetBool(ctx context.Context, key string) bool {
	v, _ := m.raw(ctx, key)
	b, _ := v.BooleanOK()
	return b
}

// GetInt returns the integer value of key, or 0 when it is missing, not a
// number, or not an integer that fits an int.
func (m *Manager) GetInt(ctx context.Context, key string) int {
	v, _ := m.raw(ctx, key)
	n, ok := asInt64(v)
	if !ok || n < math.MinInt || n > math.MaxInt {
		return 0
	}
	return int(n)
}

// GetInt64 returns the integer value of key, or 0 when it is missing, not
// a number or not an integer.
func (m *Manager) GetInt64(ctx context.Context, key string) int64 {
	v, _ := m.raw(ctx, key)
	n, _ := asInt64(v)
	return n
}

// asInt64 reads an integer stored as int32, int64 or a whole double.
func asInt64(v bson.RawValue) (int64, bool) {
	switch v.Type {
	case bson.TypeInt32:
		return int64(v.Int32()), true
	case bson.TypeInt64:
		return v.Int64(), true
	case bson.TypeDouble:
		f := v.Double()
		if f == math.Trunc(f) && f >= math.MinInt64 && f < math.MaxInt64 {
			return int64(f), true
		}
	}
	return 0, false
}

// GetFloat returns the numeric value of key as a float64, or 0 when it is
// missing or not a number.
func (m *Manager) GetFloat(ctx context.Context, key string) float64 {
	v, _ := m.raw(ctx, key)
	f, _ := v.AsFloat64OK() // double, int32 or int64
	return f
}

// GetBytes returns the []byte value of key (a copy), or nil when it is
// missing or not binary.
func (m *Manager) GetBytes(ctx context.Context, key string) []byte {
	v, _ := m.raw(ctx, key)
	if _, b, ok := v.BinaryOK(); ok {
		return append([]byte(nil), b...)
	}
	return nil
}

// GetTime returns the time value of key (UTC, millisecond precision), or
// the zero time when it is missing or not a time.
func (m *Manager) GetTime(ctx context.Context, key string) time.Time {
	v, _ := m.raw(ctx, key)
	if t, ok := v.TimeOK(); ok {
		return t.UTC()
	}
	return time.Time{}
}

// Pop returns the value of key as Get does and removes it from the session.
func (m *Manager) Pop(ctx context.Context, key string) any { return pop(m, ctx, key, m.Get) }

// PopString returns GetString's result and removes key.
func (m *Manager) PopString(ctx context.Context, key string) string {
	return pop(m, ctx, key, m.GetString)
}

// PopBool returns GetBool's result and removes key.
func (m *Manager) PopBool(ctx context.Context, key string) bool { return pop(m, ctx, key, m.GetBool) }

// PopInt returns GetInt's result and removes key.
func (m *Manager) PopInt(ctx context.Context, key string) int { return pop(m, ctx, key, m.GetInt) }

// PopInt64 returns GetInt64's result and removes key.
func (m *Manager) PopInt64(ctx context.Context, key string) int64 {
	return pop(m, ctx, key, m.GetInt64)
}

// PopFloat returns GetFloat's result and removes key.
func (m *Manager) PopFloat(ctx context.Context, key string) float64 {
	return pop(m, ctx, key, m.GetFloat)
}

// PopBytes returns GetBytes's result and removes key.
func (m *Manager) PopBytes(ctx context.Context, key string) []byte {
	return pop(m, ctx, key, m.GetBytes)
}

// PopTime returns GetTime's result and removes key.
func (m *Manager) PopTime(ctx context.Context, key string) time.Time {
	return pop(m, ctx, key, m.GetTime)
}

// pop returns get's result for key and removes key from the session.
func pop[T any](m *Manager, ctx context.Context, key string, get func(context.Context, string) T) T {
	v := get(ctx, key)
	m.Remove(ctx, key)
	return v
}

// report logs the misuse of an operation outside LoadAndSave.
func (m *Manager) report(op string, err error) {
	if m.store != nil {
		m.be.Report("httpsession: "+op, err)
	}
}
