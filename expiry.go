package mongosession

import (
	"context"
	"errors"
	"time"

	"github.com/mongosession/mongosession/internal/servererr"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// ttlIndexName is Backend.TTLIndexName.
func (s *Store) ttlIndexName() string { return s.cfg.ExpiresKey + "_1" }

// prepareExpiry sets up what AutoRemove asks for. Only a failure to reach
// the server is returned; index problems are reported and survived.
func (s *Store) prepareExpiry(ctx context.Context) error {
	switch s.cfg.AutoRemove {
	case AutoRemoveOff:
		return nil
	case AutoRemoveInterval:
		s.reaping = true
		return nil
	}
	err := s.ensureTTLIndex(ctx)
	switch {
	case err == nil:
		return nil
	case servererr.Has(err, servererr.NotImplemented, servererr.CommandNotFound):
		s.cfg.Logger.Warn("mongosession: the server has no TTL indexes; deleting expired sessions with a reaper instead",
			"collection", s.cfg.Collection, "interval", s.cfg.CleanupInterval.String())
		s.reaping = true
		return nil
	case servererr.Has(err, servererr.Unauthorized):
		// createIndexes refused, or (behind an index conflict) collMod
		// refused: the readWrite role may create indexes but not collMod.
		s.cfg.Logger.Warn("mongosession: not allowed to create the TTL index or to change the existing index on the expiry field; expired sessions stay in the collection until an administrator does (reads still ignore them)",
			"collection", s.cfg.Collection, "index", s.ttlIndexName())
		return nil
	case isUnavailable(err):
		return &opError{op: "creating the TTL index", err: err, kind: ErrUnavailable}
	}
	s.report("creating the TTL index", err)
	return nil
}

// ensureTTLIndex creates {<ExpiresKey>: 1} with expireAfterSeconds, and
// changes an existing index on that key whose options differ with collMod.
func (s *Store) ensureTTLIndex(ctx context.Context) error {
	secs := int32(s.cfg.ExpireAfter / time.Second)
	model := mongo.IndexModel{
		Keys:    bson.D{{Key: s.cfg.ExpiresKey, Value: 1}},
		Options: options.Index().SetExpireAfterSeconds(secs),
	}
	_, err := s.coll.Indexes().CreateOne(ctx, model)
	if err == nil || !servererr.Has(err, servererr.IndexOptionsConflict, servererr.IndexKeySpecsConflict) {
		return err
	}
	// An index on the same key exists with other options: a TTL index
	// with another expireAfterSeconds, or a plain index an administrator
	// made. collMod sets expireAfterSeconds in place on either: MongoDB
	// 5.1 and later turn a plain single-field index into a TTL one this
	// way, which is what the store needs (its expiry field must expire);
	// older servers refuse that, and the conflict is reported for an
	// administrator. The index is named in collMod, not given by its key
	// pattern: MongoDB accepts both, FerretDB 2 over DocumentDB only the
	// name, and the existing index's name may not be the default one.
	name, was, nerr := s.indexOn(ctx, s.cfg.ExpiresKey)
	if nerr != nil {
		return errors.Join(err, nerr)
	}
	cmd := bson.D{
		{Key: "collMod", Value: s.cfg.Collection},
		{Key: "index", Value: bson.D{
			{Key: "name", Value: name},
			{Key: "expireAfterSeconds", Value: secs},
		}},
	}
	if merr := s.coll.Database().RunCommand(ctx, cmd).Err(); merr != nil {
		return errors.Join(err, merr)
	}
	if was == nil {
		s.cfg.Logger.Warn("mongosession: turned the existing non-TTL index on the expiry field into a TTL index with collMod; the server now deletes expired sessions",
			"collection", s.cfg.Collection, "index", name, "expireAfterSeconds", secs)
		return nil
	}
	s.cfg.Logger.Info("mongosession: changed the TTL index's expireAfterSeconds with collMod",
		"collection", s.cfg.Collection, "index", name, "from", *was, "expireAfterSeconds", secs)
	return nil
}

// indexOn returns the name of the collection's index whose key is
// {field: 1} and its expireAfterSeconds (nil when it is not a TTL index),
// or the default name and nil when there is none.
func (s *Store) indexOn(ctx context.Context, field string) (string, *int32, error) {
	specs, err := s.coll.Indexes().ListSpecifications(ctx)
	if err != nil {
		return "", nil, err
	}
	for _, sp := range specs {
		var key bson.D
		if bson.Unmarshal(sp.KeysDocument, &key) != nil || len(key) != 1 || key[0].Key != field {
			continue
		}
		if n, ok := asNumber(key[0].Value); ok && n == 1 {
			return sp.Name, sp.ExpireAfterSeconds, nil
		}
	}
	return s.ttlIndexName(), nil, nil
}

// asNumber reads a BSON number of any width.
func asNumber(v any) (float64, bool) {
	switch n := v.(type) {
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case float64:
		return n, true
	}
	return 0, false
}

func (s *Store) startReaper() {
	ctx, cancel := context.WithCancel(context.Background())
	s.reaperCancel = cancel
	s.reaperDone = make(chan struct{})
	go func() {
		defer close(s.reaperDone)
		t := time.NewTicker(s.cfg.CleanupInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				// Close cancels ctx, which cuts a deletion in progress short
				// rather than waiting for it.
				octx, ocancel := context.WithTimeout(ctx, s.cfg.Timeout)
				_, err := s.deleteExpired(octx)
				ocancel()
				if err != nil && ctx.Err() == nil {
					// OnError may call Close, which must then not wait for
					// this goroutine: it is the one calling.
					s.reaperReporting.Store(true)
					s.emit("mongosession: reaper", s.wrapErr(ctx, "reaper: deleting expired sessions", err))
					s.reaperReporting.Store(false)
				}
			}
		}
	}()
}

// DeleteExpired deletes every document whose expiry has passed, in one
// deleteMany, and returns how many it deleted. The reaper calls it every
// CleanupInterval; with a TTL index the server does the same on its own.
// Documents whose expiry field is missing or not a date are left alone.
func (s *Store) DeleteExpired(ctx context.Context) (int64, error) {
	if err := s.begin(); err != nil {
		return 0, err
	}
	defer s.end()
	octx, cancel := s.opCtx(ctx)
	defer cancel()
	n, err := s.deleteExpired(octx)
	return n, s.wrapErr(ctx, "delete expired", err)
}

func (s *Store) deleteExpired(ctx context.Context) (int64, error) {
	res, err := s.coll.DeleteMany(ctx, bson.D{{Key: s.cfg.ExpiresKey, Value: bson.D{{Key: "$lte", Value: time.Now()}}}})
	if err != nil {
		return 0, err
	}
	return res.DeletedCount, nil
}
