package bench

import (
	"context"
	"fmt"
	"time"

	scsmongo "github.com/alexedwards/scs/mongodbstore"
	gofibermongo "github.com/gofiber/storage/mongodb/v2"
	"github.com/laziness-coders/mongostore"
	mongov1 "go.mongodb.org/mongo-driver/mongo"
	optionsv1 "go.mongodb.org/mongo-driver/mongo/options"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The peers: MongoDB stores for scs, fiber and gorilla that a user would
// otherwise install, as published. All three are built on driver v1
// (go.mongodb.org/mongo-driver), whose client they take or make.
//
// gorilla: of the gorilla/sessions MongoDB stores, the module proxy serves
// laziness-coders/mongostore (at v0.0.14, the version gin-contrib/sessions
// v1.0.4's mongo/mongodriver store pins; it builds with gorilla/sessions
// v1.4.0). kidstuff/mongostore (whose served version is on mgo, not the
// official driver), go-stuff/mongostore and ashulepov/mongodbstore were
// asked for and refused by the proxy.

// v1Client is the driver v1 client the scs and gorilla peers share.
type v1Client struct {
	client *mongov1.Client
	db     string
}

func connectV1(ctx context.Context, uri string) (*v1Client, error) {
	c, err := mongov1.Connect(ctx, optionsv1.Client().ApplyURI(uri))
	if err != nil {
		return nil, fmt.Errorf("connecting driver v1: %w", err)
	}
	return &v1Client{client: c}, nil
}

func (c *v1Client) close() { _ = c.client.Disconnect(context.Background()) }

// scsPeer is alexedwards/scs/mongodbstore, as New makes it but for its
// reaper (every minute by default), which makes no pass during the run
// (see peerReaperPaused); with tokenIndex, plus a unique index on its
// lookup field, token, which it neither creates nor documents.
func scsPeer(tokenIndex bool) func(context.Context, peerEnv) (*peerSide, error) {
	return func(ctx context.Context, env peerEnv) (*peerSide, error) {
		name, coll, expiry := "scs/mongodbstore", "peers_scs_peer",
			"reaper `deleteMany {expiration: {$lt: now}}` every minute by default ("+peerReaperPaused+"), on an int64 of nanoseconds that no index serves; Find checks the expiry"
		if tokenIndex {
			name, coll = "scs/mongodbstore + index on token (by the bench)", "peers_scs_peer_idx"
			_, err := env.client.Database(env.cfg.Database).Collection(coll).Indexes().CreateOne(ctx, mongo.IndexModel{
				Keys: bson.D{{Key: "token", Value: 1}}, Options: options.Index().SetUnique(true),
			})
			if err != nil {
				return nil, fmt.Errorf("%s: creating the index on token: %w", name, err)
			}
		}
		st := scsmongo.NewWithConfig(env.v1.client.Database(env.cfg.Database), scsmongo.Config{
			CleanupInterval: 0, CollectionName: coll,
		})
		side := scsSide(st, name, expiry, env.client.Database(env.cfg.Database).Collection(coll))
		side.keyField, side.newID = "token", true
		side.docKey = func(t string) string { return t }
		side.close = func() {}
		return side, nil
	}
}

// fiberPeer is gofiber/storage/mongodb/v2 as New makes it: a client of its
// own, a TTL index on exp and a unique index on key. New panics when the
// server refuses either index (FerretDB 1.x has no TTL indexes): the side
// then does not run, and says why.
func fiberPeer(ctx context.Context, env peerEnv) (side *peerSide, err error) {
	const name, coll = "gofiber/storage/mongodb/v2", "peers_fiber_peer"
	side = &peerSide{face: "fiber", store: name,
		expiry: "TTL index on `exp`, created by New; Get checks the expiry (to the second)"}
	st, perr := newFiberPeer(env, coll)
	if perr != nil {
		side.notRun = perr.Error()
		return side, nil
	}
	ctxSt := ctxStorage{st}
	side = fiberSide(ctxSt, name, side.expiry, env.client.Database(env.cfg.Database).Collection(coll))
	side.keyField, side.newID = "key", true
	side.docKey = func(t string) string { return t }
	side.close = func() { _ = st.Close() }
	return side, nil
}

// newFiberPeer calls New, turning its panic into an error. A New that
// panics after dialing leaves its client connected, out of reach: a
// heartbeat per 10 s until the process ends, which the command counts
// nowhere (heartbeats are not counted).
func newFiberPeer(env peerEnv, coll string) (st *gofibermongo.Storage, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("New panicked: %v", r)
		}
	}()
	return gofibermongo.New(gofibermongo.Config{
		ConnectionURI: env.cfg.URI, Database: env.cfg.Database, Collection: coll,
	}), nil
}

// ctxStorage gives gofiber/storage/mongodb v2.1.0, which predates the
// context methods of fiber v3.1's Storage interface, those methods: each
// calls the storage's own method, which uses context.Background().
type ctxStorage struct{ *gofibermongo.Storage }

func (s ctxStorage) GetWithContext(_ context.Context, key string) ([]byte, error) {
	return s.Get(key)
}

func (s ctxStorage) SetWithContext(_ context.Context, key string, val []byte, exp time.Duration) error {
	return s.Set(key, val, exp)
}

func (s ctxStorage) DeleteWithContext(_ context.Context, key string) error { return s.Delete(key) }

func (s ctxStorage) ResetWithContext(context.Context) error { return s.Reset() }

// gorillaPeer is laziness-coders/mongostore with ensureTTL, as its README
// and gin-contrib's example make it: a TTL index on modified, expiring
// MaxAge after the last save. NewMongoStore panics when the server
// refuses that index; the store is then made without it, as a user would
// have to, and the expiry column says so.
func gorillaPeer(ctx context.Context, env peerEnv) (*peerSide, error) {
	const name, coll = "laziness-coders/mongostore", "peers_gorilla_peer"
	maxAge := int(peerWeek / time.Second)
	c := env.v1.client.Database(env.cfg.Database).Collection(coll)
	expiry := "TTL index on `modified` (ensureTTL); a read refuses data older than MaxAge (securecookie's timestamp)"
	st, err := newGorillaPeer(c, maxAge, true)
	if err != nil {
		expiry = "ensureTTL's TTL index refused here (NewMongoStore panics), so made without it: expired sessions stay; a read refuses data older than MaxAge (securecookie's timestamp)"
		if st, err = newGorillaPeer(c, maxAge, false); err != nil {
			return nil, err
		}
	}
	side := gorillaSide(st, st.Codecs, name, expiry, env.client.Database(env.cfg.Database).Collection(coll))
	side.keyField = "_id"
	side.docKey = func(t string) string { return t }
	side.close = func() {}
	return side, nil
}

func newGorillaPeer(c *mongov1.Collection, maxAge int, ensureTTL bool) (st *mongostore.MongoStore, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("NewMongoStore panicked: %v", r)
		}
	}()
	return mongostore.NewMongoStore(c, maxAge, ensureTTL, peerHashKey), nil
}
