package bench

import (
	"context"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongosession/mongosession/internal/mongotest"
)

// TestWrittenTwice proves that the round-trip section's detector sees the
// _id of each kind of write in the monitored commands, so that its "no
// document written twice" means something.
func TestWrittenTwice(t *testing.T) {
	rec := &recorder{}
	client, err := mongo.Connect(options.Client().ApplyURI(mongotest.URI(t)).SetMonitor(rec.monitor()))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(context.Background())
	coll := client.Database(mongotest.Database).Collection(mongotest.Collection(t))
	defer coll.Drop(context.Background())
	ctx := context.Background()

	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "a"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: "b"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: 1}}}}, options.UpdateOne().SetUpsert(true)); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: "c"}}); err != nil {
		t.Fatal(err)
	}
	if got := writtenTwice(rec.take()); len(got) != 0 {
		t.Errorf("three writes of three documents: %v written twice", got)
	}

	if _, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: "a"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: 1}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: "a"}}); err != nil {
		t.Fatal(err)
	}
	if got := writtenTwice(rec.take()); len(got) != 1 {
		t.Errorf("an update and a delete of one document: %v written twice, want that one", got)
	}
}
