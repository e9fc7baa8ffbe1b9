package bench

import (
	"maps"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// topEntry is one namespace of top's totals as mongod answers it: a
// {time, count} pair per kind of operation, times in microseconds.
func topEntry(queries, getmore, insert, update, remove, commands int64) bson.D {
	kind := func(n int64) bson.D { return bson.D{{Key: "time", Value: n * 250}, {Key: "count", Value: n}} }
	total := queries + getmore + insert + update + remove + commands
	return bson.D{
		{Key: "total", Value: kind(total)},
		{Key: "readLock", Value: kind(queries + getmore + commands)},
		{Key: "writeLock", Value: kind(insert + update + remove)},
		{Key: "queries", Value: kind(queries)},
		{Key: "getmore", Value: kind(getmore)},
		{Key: "insert", Value: kind(insert)},
		{Key: "update", Value: kind(update)},
		{Key: "remove", Value: kind(remove)},
		{Key: "commands", Value: kind(commands)},
	}
}

// TestTopCounts reads the counts of one namespace from top's totals (the
// path a mongod takes; FerretDB 1.24 has no top), leaving out the other
// namespaces that the server's clients and jobs work on.
func TestTopCounts(t *testing.T) {
	raw, err := bson.Marshal(bson.D{
		{Key: "note", Value: "all times in microseconds"},
		{Key: "config.system.sessions", Value: topEntry(0, 0, 0, 7, 3, 0)},
		{Key: "local.oplog.rs", Value: topEntry(0, 90, 0, 0, 0, 0)},
		{Key: "bench.peers_scs_ours", Value: topEntry(23, 0, 0, 24, 1, 0)},
		{Key: "bench.peers_scs_ours.x", Value: topEntry(5, 5, 5, 5, 5, 5)},
		{Key: "bench.peers_other", Value: topEntry(0, 0, 0, 0, 0, 2)},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := topCounts(raw, "bench.peers_scs_ours")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"find": 23, "getMore": 0, "insert": 0, "update": 24, "delete": 1, "other commands": 0}
	if !maps.Equal(got, want) {
		t.Errorf("counts of bench.peers_scs_ours: %v, want %v", got, want)
	}
	got, err = topCounts(raw, "bench.peers_other")
	if err != nil || got["other commands"] != 2 || got["find"] != 0 {
		t.Errorf("counts of bench.peers_other: %v, %v; want 2 other commands", got, err)
	}

	// A namespace that nothing ran on yet is absent from top: no counts.
	got, err = topCounts(raw, "bench.peers_gorilla_ours")
	if err != nil || len(got) != 0 {
		t.Errorf("counts of an absent namespace: %v, %v; want none", got, err)
	}

	bad, err := bson.Marshal(bson.D{{Key: "bench.c", Value: bson.D{{Key: "update", Value: bson.D{{Key: "count", Value: "many"}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := topCounts(bad, "bench.c"); err == nil || !strings.Contains(err.Error(), "bench.c.update.count") {
		t.Errorf("a count that is not a number: %v, %v; want an error naming it", got, err)
	}
}
