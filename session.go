package mongosession

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// sessionField holds the session data in every document.
const sessionField = "session"

// hashedField marks a document stored under the hash of its token (the
// default; not with Options.PlainIDs): {hashed: true}. With
// MigratePlainIDs, the lookup under a plain token skips documents that
// carry it, so a stored hash presented as a cookie never finds the session
// it names (the marker is what tells a hashed _id from a plain token of the
// same shape).
const hashedField = "hashed"

// endedField marks a session that Delete ended: {ended: <when>}, with no
// session data. Commit never writes over such a marker, so a request still
// in flight with the session's token cannot bring the session back; Find,
// Touch, Iter and Count treat it as absent. It lasts Options.EndedFor at
// most, never past the session's own expiry, and then leaves the
// collection like any expired document (TTL index or reaper).
const endedField = "ended"

// notEnded is the filter clause that excludes ended markers.
var notEnded = bson.E{Key: endedField, Value: bson.D{{Key: "$exists", Value: false}}}

// MaxDocumentSize is MongoDB's limit on one document, 16 MiB. A commit whose
// document would be larger fails with ErrTooLarge before anything is sent.
const MaxDocumentSize = 16 * 1024 * 1024

// FindCtx returns the data of the session with the given token. A missing,
// expired or malformed token gives found == false and a nil error, and so
// does a session that Delete ended and a stored document the store cannot
// read (ErrCorrupt, reported through OnError). The error is for system
// failures: ErrClosed, or the server failing or out of reach
// (ErrUnavailable). One find by _id (with MigratePlainIDs, a miss is
// retried under the plain token).
func (s *Store) FindCtx(ctx context.Context, token string) (b []byte, found bool, err error) {
	rec, found, err := s.findRecord(ctx, token)
	return rec.Data, found, err
}

// findRecord is Backend.FindRecord.
func (s *Store) findRecord(ctx context.Context, token string) (rec Record, found bool, err error) {
	if err := s.begin(); err != nil {
		return Record{}, false, err
	}
	defer s.end()
	id, ok := s.storedID(token)
	if !ok {
		return Record{}, false, nil
	}
	octx, cancel := s.opCtx(ctx)
	defer cancel()

	rec, found, err = s.find(octx, id, bson.D{{Key: "_id", Value: id}})
	if err == nil && !found && s.cfg.MigratePlainIDs {
		// The session may still be stored under its plain token from
		// before PlainIDs was turned off; never under a hash, which a
		// database reader could otherwise present as a cookie.
		rec, found, err = s.find(octx, token, s.plainFilter(token))
		rec.Stale = found
	}
	return rec, found, s.wrapErr(ctx, "find", err)
}

// plainFilter matches the document stored under token itself before
// PlainIDs was turned off, and never one written under a hash.
func (s *Store) plainFilter(token string) bson.D {
	return bson.D{{Key: "_id", Value: token}, {Key: hashedField, Value: bson.D{{Key: "$exists", Value: false}}}}
}

// find loads and opens the document that filter matches, stored under id.
func (s *Store) find(ctx context.Context, id string, filter bson.D) (Record, bool, error) {
	raw, err := s.coll.FindOne(ctx, filter, s.findOpts).Raw()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, err
	}
	if _, err := raw.LookupErr(endedField); err == nil {
		return Record{}, false, nil
	}
	data, expires, err := s.decode(id, raw)
	if err != nil {
		s.report("reading a session", err)
		return Record{}, false, nil
	}
	if !expires.After(time.Now()) {
		return Record{}, false, nil
	}
	return Record{ID: id, Data: data, Expires: expires, Stale: s.staleKey(raw)}, true, nil
}

// staleKey reports whether the stored session data was sealed under an
// EncryptionKeys entry other than the first: its next write re-encrypts it.
func (s *Store) staleKey(raw bson.Raw) bool {
	if s.cipher == nil {
		return false
	}
	_, data, ok := raw.Lookup(sessionField).BinaryOK()
	return ok && !s.cipher.current(data)
}

// decode reads and opens the session data and expiry of a stored document.
// Errors wrap ErrCorrupt and name what is wrong, never the token.
func (s *Store) decode(id string, raw bson.Raw) ([]byte, time.Time, error) {
	ev, err := raw.LookupErr(s.cfg.ExpiresKey)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("%w: no %q field", ErrCorrupt, s.cfg.ExpiresKey)
	}
	ms, ok := ev.DateTimeOK()
	if !ok {
		return nil, time.Time{}, fmt.Errorf("%w: %q is BSON %s, not a date", ErrCorrupt, s.cfg.ExpiresKey, ev.Type)
	}
	expires := time.UnixMilli(ms)

	sv, err := raw.LookupErr(sessionField)
	if err != nil {
		return nil, expires, fmt.Errorf("%w: no %q field", ErrCorrupt, sessionField)
	}
	subtype, data, ok := sv.BinaryOK()
	if !ok {
		return nil, expires, fmt.Errorf("%w: %q is BSON %s, not binary", ErrCorrupt, sessionField, sv.Type)
	}
	plain, err := s.open(id, "", bson.Binary{Subtype: subtype, Data: data})
	if err != nil {
		return nil, expires, err
	}
	if s.cipher == nil {
		// data aliases the driver's buffer for this reply; hand the caller
		// its own copy.
		plain = append([]byte(nil), plain...)
	}
	return plain, expires, nil
}

// CommitCtx stores b as the data of the session with the given token,
// expiring at expiry (a zero expiry means now + Options.Expires), creating
// the document or replacing its data. A session that Delete ended stays
// ended: the commit then writes nothing and returns nil (the request that
// carried the token is over; its next one is a new visitor's). One upsert
// by _id that excludes the ended marker; its duplicate-key error (a racing
// upsert of the same token, or the marker) is retried once as a plain
// update, which matches nothing when the session ended. A document that
// would exceed MaxDocumentSize fails with ErrTooLarge before anything is
// sent, leaving the stored session intact. An invalid token fails with
// ErrInvalidToken. With MigratePlainIDs, a second command deletes the
// session's copy under its plain token, so the commit moves it.
func (s *Store) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	if err := s.begin(); err != nil {
		return err
	}
	defer s.end()
	id, ok := s.storedID(token)
	if !ok {
		return ErrInvalidToken
	}
	if expiry.IsZero() {
		expiry = time.Now().Add(s.cfg.Expires)
	}
	bin, err := s.seal(id, "", b)
	if err != nil {
		return err
	}
	if size := s.documentSize(id, len(bin.Data)); size > MaxDocumentSize {
		return fmt.Errorf("%w: %d bytes of session data make a %d-byte document (limit %d)", ErrTooLarge, len(b), size, MaxDocumentSize)
	}
	octx, cancel := s.opCtx(ctx)
	defer cancel()

	filter := bson.D{{Key: "_id", Value: id}, notEnded}
	set := bson.D{
		{Key: sessionField, Value: bin},
		{Key: s.cfg.ExpiresKey, Value: bson.NewDateTimeFromTime(expiry)},
	}
	if !s.cfg.PlainIDs {
		set = append(set, bson.E{Key: hashedField, Value: true})
	}
	update := bson.D{{Key: "$set", Value: set}}
	ended := false
	_, err = s.coll.UpdateOne(octx, filter, update, upsertOpts)
	if err != nil && mongo.IsDuplicateKeyError(err) {
		// A document with this _id exists that the filter did not match:
		// either another request upserted it between our match and our
		// insert (update it now), or it is an ended marker (the update
		// matches nothing, and the session stays ended).
		var res *mongo.UpdateResult
		res, err = s.coll.UpdateOne(octx, filter, update)
		ended = err == nil && res.MatchedCount == 0
	}
	if err == nil && !ended && s.cfg.MigratePlainIDs {
		// The session now lives under its hash: remove the plain-token
		// copy, so that no token stays at rest and a later logout cannot
		// be undone by it.
		_, err = s.coll.DeleteOne(octx, s.plainFilter(token))
	}
	return s.wrapErr(ctx, "commit", err)
}

var upsertOpts = options.UpdateOne().SetUpsert(true)

// documentSize is the BSON size of {_id: id, session: BinData(n),
// <expires>: Date, hashed: true}, the largest form a committed document
// takes (PlainIDs drops the last field).
func (s *Store) documentSize(id string, n int) int {
	const (
		header   = 4 + 1 // int32 length, trailing NUL
		elemHead = 1 + 1 // type byte, key's NUL
	)
	size := header +
		elemHead + len("_id") + 4 + len(id) + 1 +
		elemHead + len(sessionField) + 4 + 1 + n +
		elemHead + len(s.cfg.ExpiresKey) + 8
	if !s.cfg.PlainIDs {
		size += elemHead + len(hashedField) + 1
	}
	return size
}

// Touch sets the expiry of a live session to expiry (zero: now +
// Options.Expires) and reports whether there was one. It never creates or
// revives a session: a missing, expired, ended (Delete) or malformed token
// gives false and a nil error. One update by _id, no upsert (with
// MigratePlainIDs, a miss is retried under the plain token).
func (s *Store) Touch(ctx context.Context, token string, expiry time.Time) (bool, error) {
	if err := s.begin(); err != nil {
		return false, err
	}
	defer s.end()
	id, ok := s.storedID(token)
	if !ok {
		return false, nil
	}
	if expiry.IsZero() {
		expiry = time.Now().Add(s.cfg.Expires)
	}
	octx, cancel := s.opCtx(ctx)
	defer cancel()

	touched, err := s.touch(octx, bson.D{{Key: "_id", Value: id}}, expiry)
	if err == nil && !touched && s.cfg.MigratePlainIDs {
		touched, err = s.touch(octx, s.plainFilter(token), expiry)
	}
	return touched, s.wrapErr(ctx, "touch", err)
}

// touch sets the expiry of the live document that filter matches.
func (s *Store) touch(ctx context.Context, filter bson.D, expiry time.Time) (bool, error) {
	filter = append(filter, bson.E{Key: s.cfg.ExpiresKey, Value: bson.D{{Key: "$gt", Value: time.Now()}}}, notEnded)
	res, err := s.coll.UpdateOne(ctx, filter,
		bson.D{{Key: "$set", Value: bson.D{{Key: s.cfg.ExpiresKey, Value: bson.NewDateTimeFromTime(expiry)}}}})
	if err != nil {
		return false, err
	}
	return res.MatchedCount > 0, nil
}

// DeleteCtx ends the session with the given token, for good: the
// document becomes an ended marker (its data removed) in one update by _id,
// so that no request still in flight with the token can bring it back (its
// Commit writes nothing, see CommitCtx). The marker lasts Options.EndedFor,
// never past the session's own expiry. A missing, expired or malformed
// token is a no-op with a nil error. With MigratePlainIDs, the marker is
// upserted under the hash (a session still stored under its plain token
// is fenced too) and a second command deletes the plain copy.
func (s *Store) DeleteCtx(ctx context.Context, token string) error {
	if err := s.begin(); err != nil {
		return err
	}
	defer s.end()
	id, ok := s.storedID(token)
	if !ok {
		return nil
	}
	octx, cancel := s.opCtx(ctx)
	defer cancel()

	now := time.Now()
	set := bson.D{{Key: endedField, Value: bson.NewDateTimeFromTime(now)}}
	if s.cfg.MigratePlainIDs {
		set = append(set, bson.E{Key: hashedField, Value: true})
	}
	update := bson.D{
		{Key: "$set", Value: set},
		{Key: "$unset", Value: bson.D{{Key: sessionField, Value: ""}}},
		{Key: "$min", Value: bson.D{{Key: s.cfg.ExpiresKey, Value: bson.NewDateTimeFromTime(now.Add(s.cfg.EndedFor))}}},
	}
	filter := bson.D{{Key: "_id", Value: id}}
	var err error
	if s.cfg.MigratePlainIDs {
		_, err = s.coll.UpdateOne(octx, filter, update, upsertOpts)
		if err == nil {
			_, err = s.coll.DeleteOne(octx, s.plainFilter(token))
		}
	} else {
		_, err = s.coll.UpdateOne(octx, filter, update)
	}
	return s.wrapErr(ctx, "delete", err)
}

// Count returns the number of sessions that have not expired. Expired
// documents the TTL monitor or reaper has not removed yet are not counted,
// nor are the markers of ended sessions.
// Documents whose expiry is a future date are counted even when the store
// cannot read them (ErrCorrupt), which Iter and All skip.
func (s *Store) Count(ctx context.Context) (int64, error) {
	if err := s.begin(); err != nil {
		return 0, err
	}
	defer s.end()
	octx, cancel := s.opCtx(ctx)
	defer cancel()
	n, err := s.coll.CountDocuments(octx, s.activeFilter())
	return n, s.wrapErr(ctx, "count", err)
}

// Clear deletes every session in the collection, expired or not. The
// collection and its indexes stay (it is a deleteMany, never a drop).
func (s *Store) Clear(ctx context.Context) error {
	if err := s.begin(); err != nil {
		return err
	}
	defer s.end()
	octx, cancel := s.opCtx(ctx)
	defer cancel()
	_, err := s.coll.DeleteMany(octx, bson.D{})
	return s.wrapErr(ctx, "clear", err)
}

// activeFilter matches the live sessions: not expired, not ended.
func (s *Store) activeFilter() bson.D {
	return bson.D{{Key: s.cfg.ExpiresKey, Value: bson.D{{Key: "$gt", Value: time.Now()}}}, notEnded}
}

// iterBatchSize bounds each cursor reply of Iter (about 300 KiB for
// 256-byte sessions), whatever the server's default batch size: the heap
// stays flat however many sessions there are.
const iterBatchSize = 1000

// Record is one stored session, as Iter and FindRecord return it.
type Record struct {
	// ID is the document's _id: the token's hash, or with PlainIDs the
	// token itself.
	ID string
	// Data is the session data, decrypted. The caller owns it.
	Data []byte
	// Expires is the session's absolute expiry.
	Expires time.Time
	// Stale reports that the stored form is out of date though the data
	// may not be: it was found under its plain token (MigratePlainIDs) or
	// sealed under an older EncryptionKeys entry. A face that skips
	// writing unchanged sessions should write a stale one, which moves or
	// re-encrypts it.
	Stale bool
}

// Iter streams the sessions that have not expired or ended, in no set
// order, from one cursor: memory stays constant however many there are.
// Documents the store cannot read are skipped and reported through
// OnError. An error
// (the server failing, ctx ending, ErrClosed) is yielded once, last.
// Breaking out of the loop closes the cursor; Close ends an iteration in
// flight with ErrClosed at its next record. ctx bounds the whole
// iteration; without a deadline, each batch is bounded by Options.Timeout.
func (s *Store) Iter(ctx context.Context) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		if err := s.begin(); err != nil {
			yield(Record{}, err)
			return
		}
		defer s.end()
		ctx := ctx // each range over the sequence has its own
		if ctx == nil {
			ctx = context.Background()
		}
		octx, cancel := s.opCtx(ctx)
		projection := bson.D{{Key: "_id", Value: 1}, {Key: sessionField, Value: 1}, {Key: s.cfg.ExpiresKey, Value: 1}}
		if !s.cfg.PlainIDs {
			projection = append(projection, bson.E{Key: hashedField, Value: 1})
		}
		cur, err := s.coll.Find(octx, s.activeFilter(), options.Find().SetProjection(projection).SetBatchSize(iterBatchSize))
		cancel()
		if err != nil {
			yield(Record{}, s.wrapErr(ctx, "iterate", err))
			return
		}
		defer func() {
			cctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
			_ = cur.Close(cctx)
			cancel()
		}()
		for {
			bctx, cancel := s.opCtx(ctx)
			more := cur.Next(bctx)
			cancel()
			if !more {
				break
			}
			if s.isClosed() {
				// Close ends iterations in flight, even within a batch
				// already received.
				yield(Record{}, &opError{op: "iterate", err: errors.New("store closed during iteration"), kind: ErrClosed})
				return
			}
			rec, err := s.record(cur.Current)
			if err != nil {
				s.report("iterating sessions", err)
				continue
			}
			if !rec.Expires.After(time.Now()) {
				continue
			}
			if !yield(rec, nil) {
				return
			}
		}
		if err := cur.Err(); err != nil {
			yield(Record{}, s.wrapErr(ctx, "iterate", err))
		}
	}
}

func (s *Store) record(raw bson.Raw) (Record, error) {
	idv, err := raw.LookupErr("_id")
	if err != nil {
		return Record{}, fmt.Errorf("%w: no _id", ErrCorrupt)
	}
	id, ok := idv.StringValueOK()
	if !ok {
		return Record{}, fmt.Errorf("%w: _id is BSON %s, not a string", ErrCorrupt, idv.Type)
	}
	data, expires, err := s.decode(id, raw)
	if err != nil {
		return Record{}, err
	}
	stale := s.staleKey(raw)
	if !s.cfg.PlainIDs {
		if _, err := raw.LookupErr(hashedField); err != nil {
			stale = true // stored under a plain token
		}
	}
	return Record{ID: id, Data: data, Expires: expires, Stale: stale}, nil
}
