package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/servererr"
)

// The commands every collection has: count, stats, indexes.

type countResult struct {
	Live int64 `json:"live"`
}

func (r countResult) text(w io.Writer) error {
	_, err := fmt.Fprintln(w, r.Live)
	return err
}

func count(ctx context.Context, e *env) (result, error) {
	n, err := e.s.Count(ctx)
	if err != nil {
		return nil, err
	}
	return countResult{Live: n}, nil
}

type statsResult struct {
	Collection string `json:"collection"`
	// Shape is "native" (httpsession), "byte-level" (scs, gorilla, gin,
	// fiber, Node) or "empty".
	Shape   string `json:"shape"`
	Live    int64  `json:"live"`
	Expired int64  `json:"expired"`
	Undated int64  `json:"undated"`
	// Ended is what is neither live, expired nor undated: the markers of
	// sessions that a byte-level face's Delete ended, until they expire.
	Ended     int64 `json:"ended"`
	Documents int64 `json:"documents"`
	// Sizes, in bytes; absent when the server does not say (collStats).
	DataSize    *int64     `json:"data_size,omitempty"`
	StorageSize *int64     `json:"storage_size,omitempty"`
	IndexSize   *int64     `json:"index_size,omitempty"`
	SizesError  string     `json:"sizes_error,omitempty"`
	TTLIndex    *ttlResult `json:"ttl_index"`
	// Users is set for native collections only.
	Users      *userStats `json:"users,omitempty"`
	expiresKey string
}

type ttlResult struct {
	Name               string `json:"name"`
	ExpireAfterSeconds int64  `json:"expire_after_seconds"`
}

func (r statsResult) text(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "collection\t%s\n", r.Collection)
	fmt.Fprintf(tw, "shape\t%s\n", r.Shape)
	fmt.Fprintf(tw, "live sessions\t%d\n", r.Live)
	fmt.Fprintf(tw, "expired, not yet removed\t%d\n", r.Expired)
	fmt.Fprintf(tw, "without a date in %q\t%d\n", r.expiresKey, r.Undated)
	fmt.Fprintf(tw, "ended, awaiting expiry\t%d\n", r.Ended)
	fmt.Fprintf(tw, "documents\t%d\n", r.Documents)
	if u := r.Users; u != nil {
		fmt.Fprintf(tw, "users\t%d\n", u.Distinct)
		fmt.Fprintf(tw, "sessions per user\tmax %d, median %g\n", u.Max, u.Median)
		fmt.Fprintf(tw, "sessions without a user\t%d\n", u.Anonymous)
	}
	if r.DataSize != nil {
		fmt.Fprintf(tw, "data size\t%d bytes\n", *r.DataSize)
		fmt.Fprintf(tw, "storage size\t%d bytes\n", *r.StorageSize)
		fmt.Fprintf(tw, "index size\t%d bytes\n", *r.IndexSize)
	} else {
		fmt.Fprintf(tw, "sizes\tunavailable (collStats: %s)\n", r.SizesError)
	}
	if r.TTLIndex != nil {
		fmt.Fprintf(tw, "TTL index\t%s, expireAfterSeconds %d\n", r.TTLIndex.Name, r.TTLIndex.ExpireAfterSeconds)
	} else {
		fmt.Fprintf(tw, "TTL index\tnone\n")
	}
	return tw.Flush()
}

func stats(ctx context.Context, e *env) (result, error) {
	s := e.s
	r := statsResult{Collection: s.Collection().Database().Name() + "." + s.Collection().Name(), expiresKey: s.Backend().ExpiresKey()}
	var err error
	if r.Shape, err = shapeOf(ctx, s); err != nil {
		return nil, err
	}
	// The engine's Count is the application's view of "live".
	if r.Live, err = s.Count(ctx); err != nil {
		return nil, err
	}
	key := s.Backend().ExpiresKey()
	now := time.Now()
	err = s.Backend().Do(ctx, "stats", func(ctx context.Context, coll *mongo.Collection) (err error) {
		if r.Documents, err = coll.CountDocuments(ctx, bson.D{}); err != nil {
			return err
		}
		if r.Expired, err = coll.CountDocuments(ctx, bson.D{{Key: key, Value: bson.D{{Key: "$lte", Value: now}}}}); err != nil {
			return err
		}
		r.Undated, err = coll.CountDocuments(ctx, bson.D{{Key: key, Value: bson.D{{Key: "$not", Value: bson.D{{Key: "$type", Value: "date"}}}}}})
		return err
	})
	if err != nil {
		return nil, err
	}
	// What is neither live, expired nor undated: dated documents the engine
	// does not count as sessions (the ended markers a byte-level face's
	// Delete leaves). The counts are taken one after the other, so under
	// load the figure is approximate.
	r.Ended = max(r.Documents-r.Live-r.Expired-r.Undated, 0)
	if r.Shape == shapeNative {
		if r.Users, err = perUser(ctx, s); err != nil {
			return nil, err
		}
		r.Users.Anonymous = max(r.Live-r.Users.Sessions, 0)
	}
	var cs struct {
		Size           int64 `bson:"size"`
		StorageSize    int64 `bson:"storageSize"`
		TotalIndexSize int64 `bson:"totalIndexSize"`
	}
	err = s.Backend().Do(ctx, "collStats", func(ctx context.Context, coll *mongo.Collection) error {
		return coll.Database().RunCommand(ctx, bson.D{{Key: "collStats", Value: coll.Name()}}).Decode(&cs)
	})
	switch {
	case err == nil:
		r.DataSize, r.StorageSize, r.IndexSize = &cs.Size, &cs.StorageSize, &cs.TotalIndexSize
	case errors.Is(err, mongosession.ErrUnavailable) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return nil, err
	default:
		r.SizesError = err.Error()
	}
	idx, err := listIndexes(ctx, s)
	if err != nil {
		return nil, err
	}
	if ttl := ttlIndex(idx, key); ttl != nil {
		r.TTLIndex = &ttlResult{Name: ttl.Name, ExpireAfterSeconds: *ttl.ExpireAfterSeconds}
	}
	return r, nil
}

func indexFlags(fs *flag.FlagSet, c *config) {
	fs.BoolVar(&c.ensure, "ensure", false, "create the TTL index on the expiry field if it is missing (an existing one keeps its expireAfterSeconds unless -expire-after is given)")
	fs.DurationVar(&c.expireAfter, "expire-after", 0, "with -ensure: the TTL index's expireAfterSeconds (whole seconds)")
}

// keepTTL looks at the collection's TTL index before "indexes -ensure"
// opens the store for real. Without -expire-after it adopts the existing
// index's expireAfterSeconds, so that nothing is changed behind the
// operator's back; with a different -expire-after it says what will
// change (on stderr with -json, whose stdout is one document). It returns
// an exit status (0: go on).
func (c *config) keepTTL(ctx context.Context, logger *slog.Logger, stdout, stderr io.Writer, explicit bool) int {
	probe, err := mongosession.New(ctx, mongosession.Options{
		URI: c.uri, Database: c.db, Collection: c.collection, ExpiresKey: c.expiresKey,
		AutoRemove: mongosession.AutoRemoveOff, Timeout: c.timeout, Logger: logger,
	})
	if err != nil {
		return openFailed(err, stderr)
	}
	defer probe.Close()
	idx, err := listIndexes(ctx, probe)
	if err != nil {
		fmt.Fprintf(stderr, "mongosession indexes: %v\n", err)
		return 1
	}
	ttl := ttlIndex(idx, probe.Backend().ExpiresKey())
	if ttl == nil {
		return 0
	}
	have := time.Duration(*ttl.ExpireAfterSeconds) * time.Second
	switch {
	case !explicit:
		c.expireAfter = have
	case c.expireAfter != have:
		w := stdout
		if c.json {
			w = stderr
		}
		fmt.Fprintf(w, "changing TTL index %s: expireAfterSeconds %d -> %d\n", ttl.Name, *ttl.ExpireAfterSeconds, c.expireAfter/time.Second)
	}
	return 0
}

// indexInfo is what listIndexes says of one index.
type indexInfo struct {
	Name               string `bson:"name" json:"name"`
	Key                bson.D `bson:"key" json:"-"`
	ExpireAfterSeconds *int64 `bson:"expireAfterSeconds" json:"expire_after_seconds,omitempty"`
	Sparse             bool   `bson:"sparse" json:"sparse,omitempty"`
	Unique             bool   `bson:"unique" json:"unique,omitempty"`
	// KeyJSON is Key for -json: the fields and their directions, in order.
	KeyJSON []indexKey `bson:"-" json:"key"`
}

type indexKey struct {
	Field string `json:"field"`
	Value any    `json:"value"`
}

func listIndexes(ctx context.Context, s *mongosession.Store) ([]indexInfo, error) {
	var idx []indexInfo
	err := s.Backend().Do(ctx, "list indexes", func(ctx context.Context, coll *mongo.Collection) error {
		cur, err := coll.Indexes().List(ctx)
		if err != nil {
			return err
		}
		return cur.All(ctx, &idx)
	})
	if servererr.Has(err, servererr.NamespaceNotFound) { // no collection yet, so no index
		return nil, nil
	}
	sort.Slice(idx, func(i, j int) bool { return idx[i].Name < idx[j].Name })
	for i := range idx {
		for _, k := range idx[i].Key {
			idx[i].KeyJSON = append(idx[i].KeyJSON, indexKey{Field: k.Key, Value: k.Value})
		}
	}
	return idx, err
}

// ttlIndex returns the TTL index on the expiry field, if there is one.
func ttlIndex(idx []indexInfo, key string) *indexInfo {
	for i, ix := range idx {
		if len(ix.Key) == 1 && ix.Key[0].Key == key && ix.ExpireAfterSeconds != nil {
			return &idx[i]
		}
	}
	return nil
}

type indexesResult struct {
	Indexes    []indexInfo `json:"indexes"`
	TTLIndex   *string     `json:"ttl_index"`
	NoTTLIndex bool        `json:"server_without_ttl_indexes,omitempty"`
	expiresKey string
}

func (r indexesResult) text(w io.Writer) error {
	if r.NoTTLIndex {
		fmt.Fprintln(w, "the server has no TTL indexes (FerretDB 1.x?): run delete-expired periodically, or let applications' reapers do it")
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKEY\tOPTIONS")
	for _, ix := range r.Indexes {
		var keys, opts []string
		for _, k := range ix.Key {
			keys = append(keys, fmt.Sprintf("%s: %v", k.Key, k.Value))
		}
		if ix.ExpireAfterSeconds != nil {
			opts = append(opts, fmt.Sprintf("expireAfterSeconds: %d", *ix.ExpireAfterSeconds))
		}
		if ix.Unique {
			opts = append(opts, "unique")
		}
		if ix.Sparse {
			opts = append(opts, "sparse")
		}
		fmt.Fprintf(tw, "%s\t{%s}\t%s\n", ix.Name, strings.Join(keys, ", "), strings.Join(opts, ", "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.TTLIndex != nil {
		_, err := fmt.Fprintf(w, "TTL index: %s (the server deletes expired sessions)\n", *r.TTLIndex)
		return err
	}
	_, err := fmt.Fprintf(w, "TTL index: none on %q (expired sessions stay until delete-expired or a reaper removes them; reads ignore them)\n", r.expiresKey)
	return err
}

func indexes(ctx context.Context, e *env) (result, error) {
	s, c := e.s, e.c
	// With -ensure, New has already run with AutoRemoveTTL: it created or
	// repaired the index, or found the server without TTL indexes
	// (Reaping), or warned on the log that it was not allowed to.
	r := indexesResult{NoTTLIndex: c.ensure && s.Backend().Reaping(), expiresKey: s.Backend().ExpiresKey()}
	idx, err := listIndexes(ctx, s)
	if err != nil {
		return nil, err
	}
	r.Indexes = idx
	if r.Indexes == nil {
		r.Indexes = []indexInfo{}
	}
	ttl := ttlIndex(idx, s.Backend().ExpiresKey())
	if ttl != nil {
		r.TTLIndex = &ttl.Name
	}
	switch {
	case !c.ensure || s.Backend().Reaping():
	case ttl == nil:
		return r, errors.New("the TTL index could not be created (see the log above)")
	case *ttl.ExpireAfterSeconds != int64(c.expireAfter/time.Second):
		return r, fmt.Errorf("the TTL index has expireAfterSeconds %d, not %d (see the log above)", *ttl.ExpireAfterSeconds, int64(c.expireAfter/time.Second))
	}
	return r, nil
}
