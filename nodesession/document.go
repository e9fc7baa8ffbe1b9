package nodesession

import (
	"context"
	"errors"
	"sort"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// documentCodec stores the session as a BSON document (connect-mongodb-
// session, Koa over it, connect-mongo with stringify off). A write sets
// and unsets only the keys the request changed, so a value another writer
// set meanwhile is kept.
type documentCodec struct {
	// legacyStrings: a string session is connect-mongo's legacy
	// (kruptein) encryption, which connect-mongo stores as a string
	// whatever its stringify option says.
	legacyStrings bool
}

func (c documentCodec) decode(s *Session, sv bson.RawValue) error {
	doc, ok := sv.DocumentOK()
	if !ok {
		if str, isStr := sv.StringValueOK(); isStr && c.legacyStrings && looksKruptein(str) {
			return ErrLegacyEncryption
		}
		return errors.New("session is not a document (is the store's stringify option on?)")
	}
	els, err := doc.Elements()
	if err != nil {
		return err
	}
	for _, e := range els {
		if e.Key() == "cookie" {
			if cd, ok := e.Value().DocumentOK(); ok {
				s.cookie.fromBSON(cd)
			}
			continue
		}
		v, err := fromBSON(e.Value())
		if err != nil {
			return err
		}
		if _, dup := s.vals[e.Key()]; !dup {
			s.order = append(s.order, e.Key())
		}
		s.vals[e.Key()] = v
	}
	return nil
}

// value is the whole session as the Node driver would store it: the
// cookie first, then the values in order.
func (documentCodec) value(m *Manager, s *Session) (any, error) {
	d := bson.D{{Key: "cookie", Value: m.ck.storedBSON(&s.cookie)}}
	for _, k := range s.order {
		if v, ok := s.vals[k]; ok {
			d = append(d, bson.E{Key: k, Value: toBSON(v)})
		}
	}
	return d, nil
}

// update sets session.<key> for each changed key and unsets each deleted
// one, with the cookie's touch and the document's new expiry. A write that
// would grow the document as loaded past mongosession.MaxDocumentSize is
// refused before it is sent (see updateOne).
func (documentCodec) update(ctx context.Context, m *Manager, s *Session, now time.Time) (gone bool, err error) {
	w := m.write(s, now, false)
	set := m.ck.touchedBSON(&s.cookie)
	for _, k := range s.order {
		if s.changed[k] {
			set = append(set, bson.E{Key: "session." + k, Value: toBSON(s.vals[k])})
		}
	}
	w.set = append(set, w.set...)
	removed := make([]string, 0, len(s.removed))
	for k := range s.removed {
		removed = append(removed, k)
	}
	sort.Strings(removed)
	for _, k := range removed {
		w.unset = append(w.unset, bson.E{Key: "session." + k, Value: ""})
	}
	matched, err := m.updateOne(ctx, "nodesession: update", m.ly.filter(s.sid), &w, s.loaded, false)
	return err == nil && !matched, err
}
