package nodesession

import (
	"context"
	"fmt"
	"strings"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/servererr"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// updateOne sends w to the document filter selects and reports whether it
// matched. loaded is that document as the request read it, or nil for an
// upsert that creates a new one. A write whose document would exceed
// mongosession.MaxDocumentSize fails with an error wrapping
// mongosession.ErrTooLarge before anything is sent (see size); so does the
// server's own refusal (MongoDB's codes 10334 and 17419, for a document
// another writer grew since the load). Either way the stored session is
// left as it was.
func (m *Manager) updateOne(ctx context.Context, op string, filter bson.D, w *write, loaded bson.Raw, upsert bool) (matched bool, err error) {
	if err := w.fits(loaded); err != nil {
		return false, err
	}
	opts := options.UpdateOne()
	if upsert {
		opts.SetUpsert(true)
	}
	err = m.be.Do(ctx, op, func(ctx context.Context, c *mongo.Collection) error {
		res, err := c.UpdateOne(ctx, filter, w.doc(), opts)
		matched = err == nil && res.MatchedCount > 0
		return err
	})
	if servererr.Has(err, servererr.DocumentTooLarge, servererr.UpdatedDocumentTooLarge) {
		err = fmt.Errorf("%w: %w", mongosession.ErrTooLarge, err)
	}
	return matched, err
}

// fits fails with an error wrapping mongosession.ErrTooLarge when the
// document w makes of loaded (nil: a new document) would exceed
// mongosession.MaxDocumentSize. A write that does not grow a document
// already over the limit (one a server without the limit stored, such as
// FerretDB 1.x) is let through: refusing it would fail every request of
// that session, down to the touch of one that changed nothing, and a write
// that shrinks it is the way back under the limit.
func (w *write) fits(loaded bson.Raw) error {
	n, err := w.size(loaded)
	if err != nil {
		return fmt.Errorf("nodesession: encoding the session: %w", err)
	}
	if n > mongosession.MaxDocumentSize && n > len(loaded) {
		return fmt.Errorf("%w: the session would make a %d-byte document (limit %d)", mongosession.ErrTooLarge, n, mongosession.MaxDocumentSize)
	}
	return nil
}

// size is the BSON size of the document w makes of doc: the stored
// document an update applies to, or nil for an upsert that inserts (an
// empty document, and $setOnInsert applies; w sets the id field itself,
// and an _id the server would add beside another id field is counted).
// It encodes the fields w sets once and looks up the fields it replaces
// or removes: about the cost of encoding the update, which the driver does
// again to send it (see BenchmarkWriteSize). It is exact for the writes
// this package makes (distinct paths, parents that exist or are created
// by one path); a $set through a field that is not a document, which the
// server refuses anyway, is counted as a replacement.
func (w *write) size(doc bson.Raw) (int, error) {
	n := len(doc)
	if doc == nil {
		n = 5 // int32 length and the trailing NUL
		if !hasKey(w.set, "_id") {
			n += elemSize("_id", 12) // the ObjectId the server adds
		}
	}
	sets := []bson.D{w.set}
	if doc == nil {
		sets = append(sets, w.setOnInsert)
	}
	for _, set := range sets {
		if len(set) == 0 {
			continue
		}
		raw, err := bson.Marshal(set) // once, as the driver encodes it
		if err != nil {
			return 0, err
		}
		els, err := bson.Raw(raw).Elements()
		if err != nil {
			return 0, err
		}
		for _, e := range els {
			n += setDelta(doc, strings.Split(e.Key(), "."), len(e.Value().Value))
		}
	}
	for _, e := range w.currentDate {
		n += setDelta(doc, strings.Split(e.Key, "."), 8) // a date
	}
	for _, e := range w.unset {
		path := strings.Split(e.Key, ".")
		if v, err := doc.LookupErr(path...); err == nil {
			n -= elemSize(path[len(path)-1], len(v.Value))
		}
	}
	return n, nil
}

// elemSize is the size of the element key: v where v's value takes n
// bytes: its type byte, the key and its NUL, the value.
func elemSize(key string, n int) int { return 2 + len(key) + n }

// setDelta is how many bytes setting path to a value of n bytes adds to
// doc: the difference with the value it replaces, or a new element,
// nested in new documents for the missing parents of path.
func setDelta(doc bson.Raw, path []string, n int) int {
	old, err := doc.LookupErr(path[0])
	if len(path) > 1 {
		if sub, ok := old.DocumentOK(); err == nil && ok {
			return setDelta(sub, path[1:], n)
		}
		n = nestedSize(path[1:], n)
	}
	if err != nil {
		return elemSize(path[0], n)
	}
	return n - len(old.Value)
}

// nestedSize is the size of the document {path[0]: {path[1]: ... value}}
// whose value takes n bytes.
func nestedSize(path []string, n int) int {
	if len(path) > 1 {
		n = nestedSize(path[1:], n)
	}
	return 5 + elemSize(path[0], n)
}

func hasKey(d bson.D, key string) bool {
	for _, e := range d {
		if e.Key == key {
			return true
		}
	}
	return false
}
