// Package rawdriver is the engine's four per-session operations written
// with the driver alone, as a careful user would write them by hand for
// the same guarantees: the baseline that the engine's benchmarks
// (engine_bench_test.go) and the bench command (bench/) compare the store
// against. Each sends the same command as the store with default options
// (ExpiresKey "expires", the token's SHA-256 as _id, no encryption), and
// keeps "ended stays ended": Delete leaves a marker that Commit never
// writes over.
package rawdriver

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

var findOpts = options.FindOne().SetProjection(bson.D{{Key: "session", Value: 1}, {Key: "expires", Value: 1}, {Key: "ended", Value: 1}})

// id is the stored _id of token: its SHA-256, base64url.
func id(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

var notEnded = bson.E{Key: "ended", Value: bson.D{{Key: "$exists", Value: false}}}

// Find is Store.FindCtx: the same find by _id with the same projection,
// the expiry checked, the data copied out of the reply's buffer. A missing
// or expired session is nil, false, nil; a document of another shape is an
// error.
func Find(ctx context.Context, coll *mongo.Collection, token string) ([]byte, bool, error) {
	raw, err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id(token)}}, findOpts).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if _, err := raw.LookupErr("ended"); err == nil {
		return nil, false, nil
	}
	ms, ok := raw.Lookup("expires").DateTimeOK()
	_, data, ok2 := raw.Lookup("session").BinaryOK()
	if !ok || !ok2 {
		return nil, false, errors.New("rawdriver: corrupt document")
	}
	if !time.UnixMilli(ms).After(time.Now()) {
		return nil, false, nil
	}
	return append([]byte(nil), data...), true, nil
}

var upsert = options.UpdateOne().SetUpsert(true)

// Commit is Store.CommitCtx: one upsert of {session, expires, hashed} by
// _id that excludes an ended marker; its duplicate-key error is retried
// once as an update, which matches nothing when the session ended.
func Commit(ctx context.Context, coll *mongo.Collection, token string, b []byte, expiry time.Time) error {
	filter := bson.D{{Key: "_id", Value: id(token)}, notEnded}
	update := bson.D{{Key: "$set", Value: bson.D{
		{Key: "session", Value: bson.Binary{Data: b}},
		{Key: "expires", Value: bson.NewDateTimeFromTime(expiry)},
		{Key: "hashed", Value: true},
	}}}
	_, err := coll.UpdateOne(ctx, filter, update, upsert)
	if mongo.IsDuplicateKeyError(err) {
		_, err = coll.UpdateOne(ctx, filter, update)
	}
	return err
}

// Touch is Store.Touch: one update of expires on a live session, no upsert.
// It reports whether a live session matched.
func Touch(ctx context.Context, coll *mongo.Collection, token string, expiry time.Time) (bool, error) {
	res, err := coll.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: id(token)}, {Key: "expires", Value: bson.D{{Key: "$gt", Value: time.Now()}}}, notEnded},
		bson.D{{Key: "$set", Value: bson.D{{Key: "expires", Value: bson.NewDateTimeFromTime(expiry)}}}})
	if err != nil {
		return false, err
	}
	return res.MatchedCount > 0, nil
}

// Delete is Store.DeleteCtx: one update by _id that turns the session into
// an ended marker lasting at most an hour; missing is not an error.
func Delete(ctx context.Context, coll *mongo.Collection, token string) error {
	now := time.Now()
	_, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: id(token)}}, bson.D{
		{Key: "$set", Value: bson.D{{Key: "ended", Value: bson.NewDateTimeFromTime(now)}}},
		{Key: "$unset", Value: bson.D{{Key: "session", Value: ""}}},
		{Key: "$min", Value: bson.D{{Key: "expires", Value: bson.NewDateTimeFromTime(now.Add(time.Hour))}}},
	})
	return err
}
