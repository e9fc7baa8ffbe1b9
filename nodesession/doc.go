// Package nodesession shares sessions with Express and Koa apps: a Go
// handler behind the same domain reads and writes the very sessions a Node
// app created in MongoDB, and the Node app keeps working on whatever the Go
// side wrote, so a service can move from Node to Go without logging anyone
// out.
//
// Configure a Manager with the Node app's cookie scheme (ExpressCookie with
// express-session's secrets, or KoaCookie with app.keys), its store's
// document layout (ConnectMongoDBSession, ConnectMongo with stringify on or
// off and optional WebCrypto encryption, or KoaGenericSession) and a
// *mongosession.Store opened on the Node store's collection:
//
//	st, _ := mongosession.New(ctx, mongosession.Options{URI: uri, Database: "app", Collection: "sessions"})
//	m, _ := nodesession.New(nodesession.Options{
//		Store:  st,
//		Cookie: nodesession.ExpressCookie{Secrets: []string{"new secret", "old secret"}},
//		Layout: nodesession.ConnectMongoDBSession{},
//	})
//	http.Handle("/api/", m.Handler(api))
//
// and in a handler:
//
//	s := nodesession.FromContext(r.Context())
//	user, ok := s.String("user")
//	_ = s.Set("visits", 3)
//
// A login on the Go side calls Session.Regenerate before it records the
// user, so that a session id planted before the login stops working.
//
// Cookies are verified as the Node libraries verify them (each secret or
// key in order, in constant time); a missing, malformed, tampered or
// unknown cookie is a new empty session, never an error. Writes change only
// the keys the Go side changed (in a session stored as one JSON string, by
// a write conditional on the string the request loaded, retried on top of
// another writer's change), keep the stored cookie and every other
// field, keep the Node formats (BSON dates, ISO strings in JSON, integers
// as Int32 as the Node driver writes them), move the expiry as the Node
// store computes it, and issue cookies signed with the first secret.
// Session ids never appear in logs or errors.
package nodesession
