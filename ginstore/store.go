// Package ginstore is the gin face of mongosession: a store for
// gin-contrib/sessions, which is gorillastore (a gorilla/sessions Store on
// MongoDB) plus the Options method gin-contrib/sessions asks for.
//
//	store, err := mongosession.New(ctx, mongosession.Options{URI: uri, Collection: "sessions"})
//	...
//	r := gin.Default()
//	r.Use(sessions.Sessions("session", ginstore.New(store, hashKey))) // 32 or 64 secret random bytes
//
// Everything gorillastore documents holds here: a 256-bit session ID in a
// signed cookie, values in MongoDB, MaxAge < 0 deleting the record, one
// find to load and at most one write per request.
package ginstore

import (
	"github.com/gin-contrib/sessions"
	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/gorillastore"
)

// Store is a gin-contrib/sessions Store keeping sessions in MongoDB. Its
// embedded *gorillastore.Store holds the codecs, serializer and default
// cookie options; see gorillastore for load and save contracts (a missing,
// expired, forged or malformed cookie is a fresh session; a database
// failure is logged by gin-contrib/sessions and leaves a fresh session,
// whose Save then returns the error).
type Store struct {
	*gorillastore.Store
}

// New returns a Store keeping its sessions in store, with keyPairs as
// gorillastore.New and gorilla document them (authentication key, optional
// encryption key, newest pair first). A nil store gives a Store whose
// loads and saves fail with mongosession.ErrClosed.
func New(store *mongosession.Store, keyPairs ...[]byte) *Store {
	return &Store{gorillastore.New(store, keyPairs...)}
}

// Options replaces the cookie options new sessions start with, as
// gin-contrib's own stores do: every field, so a zero MaxAge makes
// browser-session cookies (their records expire after the mongosession
// store's Expires) and a negative one deletes each session on Save, and
// fields left zero are off: set Path "/", HttpOnly, SameSite Lax and, behind
// HTTPS, Secure.
func (s *Store) Options(o sessions.Options) {
	s.Store.Options = o.ToGorillaOptions()
}
