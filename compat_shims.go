package mongosession

// TEMPORARY: the face-author methods moved to Backend; these shims keep the
// faces compiling until their call sites move. Removed before release.

import (
	"context"
	"log/slog"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

func (s *Store) FindRecord(ctx context.Context, token string) (Record, bool, error) {
	return s.Backend().FindRecord(ctx, token)
}
func (s *Store) Do(ctx context.Context, op string, fn func(ctx context.Context, coll *mongo.Collection) error) error {
	return s.do(ctx, op, fn)
}
func (s *Store) Report(msg string, err error)                     { s.report(msg, err) }
func (s *Store) Seal(id, f string, d []byte) (bson.Binary, error) { return s.seal(id, f, d) }
func (s *Store) Open(id, f string, b bson.Binary) ([]byte, error) { return s.open(id, f, b) }
func (s *Store) Encrypted() bool                                  { return s.cipher != nil }
func (s *Store) StoredID(t string) (string, bool)                 { return s.storedID(t) }
func (s *Store) ExpiresKey() string                               { return s.cfg.ExpiresKey }
func (s *Store) DefaultLifetime() time.Duration                   { return s.cfg.Expires }
func (s *Store) Timeout() time.Duration                           { return s.cfg.Timeout }
func (s *Store) Logger() *slog.Logger                             { return s.cfg.Logger }
func (s *Store) Reaping() bool                                    { return s.reaping }
func (s *Store) TTLIndexName() string                             { return s.ttlIndexName() }
func (s *Store) Closed() bool                                     { return s.isClosed() }
