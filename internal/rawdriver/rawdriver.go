// Package rawdriver is the engine's four per-session operations written
// with the driver alone, as a careful user would write them by hand: the
// baseline that the engine's benchmarks (engine_bench_test.go) and the
// bench command (bench/) compare the store against. Each sends the same
// command as the store with default options (ExpiresKey "expires", no
// HashIDs, no encryption).
package rawdriver

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

var findOpts = options.FindOne().SetProjection(bson.D{{Key: "session", Value: 1}, {Key: "expires", Value: 1}})

// Find is Store.FindCtx: the same find by _id with the same projection,
// the expiry checked, the data copied out of the reply's buffer. A missing
// or expired session is nil, false, nil; a document of another shape is an
// error.
func Find(ctx context.Context, coll *mongo.Collection, token string) ([]byte, bool, error) {
	raw, err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: token}}, findOpts).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
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

// Commit is Store.CommitCtx: one upsert of {session, expires} by _id.
func Commit(ctx context.Context, coll *mongo.Collection, token string, b []byte, expiry time.Time) error {
	_, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: token}},
		bson.D{{Key: "$set", Value: bson.D{
			{Key: "session", Value: bson.Binary{Data: b}},
			{Key: "expires", Value: bson.NewDateTimeFromTime(expiry)},
		}}}, upsert)
	return err
}

// Touch is Store.Touch: one update of expires on a live session, no upsert.
// It reports whether a live session matched.
func Touch(ctx context.Context, coll *mongo.Collection, token string, expiry time.Time) (bool, error) {
	res, err := coll.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: token}, {Key: "expires", Value: bson.D{{Key: "$gt", Value: time.Now()}}}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "expires", Value: bson.NewDateTimeFromTime(expiry)}}}})
	if err != nil {
		return false, err
	}
	return res.MatchedCount > 0, nil
}

// Delete is Store.DeleteCtx: one delete by _id; missing is not an error.
func Delete(ctx context.Context, coll *mongo.Collection, token string) error {
	_, err := coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: token}})
	return err
}
