package gorillastore

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"net/http"
	"time"

	"github.com/gorilla/sessions"

	"github.com/mongosession/mongosession/internal/token"
)

// The session data stored in MongoDB (the engine's "session" field):
//
//	version(1) | written, Unix ms (8, big-endian) | MaxAge, s (4, big-endian) | serialized values
//
// written and MaxAge let Save tell when an unchanged session needs no
// write, and give a loaded session back the MaxAge it was saved with.
const (
	recordVersion   = 1
	recordHeaderLen = 1 + 8 + 4
)

type record struct {
	written time.Time
	maxAge  int
	payload []byte
}

func formatRecord(r record) []byte {
	maxAge := r.maxAge
	if maxAge > math.MaxInt32 {
		maxAge = math.MaxInt32
	}
	b := make([]byte, recordHeaderLen, recordHeaderLen+len(r.payload))
	b[0] = recordVersion
	binary.BigEndian.PutUint64(b[1:9], uint64(r.written.UnixMilli()))
	binary.BigEndian.PutUint32(b[9:13], uint32(int32(maxAge)))
	return append(b, r.payload...)
}

var errRecord = errors.New("not a gorillastore session record")

func parseRecord(b []byte) (record, error) {
	if len(b) < recordHeaderLen || b[0] != recordVersion {
		return record{}, errRecord
	}
	return record{
		written: time.UnixMilli(int64(binary.BigEndian.Uint64(b[1:9]))),
		maxAge:  int(int32(binary.BigEndian.Uint32(b[9:13]))),
		payload: b[recordHeaderLen:],
	}, nil
}

// idBytes is the randomness in a session ID: 256 bits, 43 characters of
// unpadded base64url.
const idBytes = 32

// newID returns a new session ID.
func newID() string { return token.Random(idBytes) }

// validID reports whether id has the form of an ID made by newID.
func validID(id string) bool { return token.IsRandom(id, idBytes) }

// What a session was loaded (or last saved) with during this request, kept
// in the request's context as gorilla keeps its registry there, so that it
// ends with the request.
type loaded struct {
	id      string
	payload []byte
	maxAge  int
	written time.Time
	// loadErr is the database failure that made New hand out a fresh
	// session in place of the cookie's: Save refuses to write that one.
	loadErr error
}

type loadedKey struct {
	store   *Store
	session *sessions.Session
}

type loadedBox struct{ v loaded }

// rememberLoaded records st for session in r's context. Like gorilla's
// GetRegistry it replaces *r with a copy carrying a new context the first
// time; later calls update the same box.
func rememberLoaded(r *http.Request, s *Store, session *sessions.Session, st loaded) {
	if r == nil {
		return
	}
	key := loadedKey{s, session}
	if box, ok := r.Context().Value(key).(*loadedBox); ok {
		box.v = st
		return
	}
	*r = *r.WithContext(context.WithValue(r.Context(), key, &loadedBox{st}))
}

func loadedState(r *http.Request, s *Store, session *sessions.Session) (loaded, bool) {
	if r == nil {
		return loaded{}, false
	}
	box, ok := r.Context().Value(loadedKey{s, session}).(*loadedBox)
	if !ok || box.v.id == "" {
		return loaded{}, false
	}
	return box.v, true
}

// loadFailure returns the database error New met for session in r, if
// it handed out session in place of the one the cookie names.
func loadFailure(r *http.Request, s *Store, session *sessions.Session) error {
	if r == nil {
		return nil
	}
	if box, ok := r.Context().Value(loadedKey{s, session}).(*loadedBox); ok {
		return box.v.loadErr
	}
	return nil
}

func forgetLoaded(r *http.Request, s *Store, session *sessions.Session) {
	if r == nil {
		return
	}
	if box, ok := r.Context().Value(loadedKey{s, session}).(*loadedBox); ok {
		box.v = loaded{}
	}
}
