package nodesession

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// ErrConflict is the save's error (given to Options.ErrorHandler) when a
// session stored as one JSON string (connect-mongo's default, or
// encrypted) kept changing while the request saved it: another writer
// changed it before each of the bounded attempts to put this request's
// changes on top. None of this request's changes was stored.
var ErrConflict = errors.New("nodesession: the session kept changing while this request saved it")

// maxSaveAttempts bounds the conditional writes of one save of a
// JSON-string session.
const maxSaveAttempts = 5

// jsonCodec stores the session as the JSON text of JSON.stringify
// (connect-mongo's stringify, its default), encrypted when cipher is set
// (connect-mongo's WebCrypto adapter, which encrypts that text). Such a
// session can only be written whole, so a write is conditional on the
// stored string being the one the request loaded; when another writer
// changed it meanwhile, the save reads it again, puts only this request's
// changes on top, and tries again.
type jsonCodec struct {
	cipher *webCipher
}

func (c jsonCodec) decode(s *Session, sv bson.RawValue) error {
	str, ok := sv.StringValueOK()
	if !ok {
		if c.cipher != nil {
			return errors.New("session is not an encrypted string")
		}
		return errors.New("session is not a JSON string (is the store's stringify option off?)")
	}
	text := []byte(str)
	if c.cipher != nil {
		var err error
		if text, err = c.cipher.decrypt(str); err != nil {
			return err
		}
	}
	ms, err := parseJSONObject(text)
	if err != nil {
		if looksKruptein(string(text)) {
			return ErrLegacyEncryption
		}
		return errors.New("session is not a JSON object: " + err.Error())
	}
	if c.cipher == nil && !hasMember(ms, "cookie") && looksKruptein(string(text)) {
		// kruptein 1 and 2's {"hmac","ct","iv","at"} is a JSON object
		// too, but never an express-session session (no cookie).
		return ErrLegacyEncryption
	}
	s.stored, s.jsonMems = str, ms
	for _, mem := range ms {
		v, err := fromJSON(mem.raw)
		if err != nil {
			return err
		}
		if mem.key == "cookie" {
			if cm, ok := v.(map[string]any); ok {
				s.cookie.fromMap(cm)
				if s.cookieMems, err = parseJSONObject(mem.raw); err != nil {
					return err
				}
			}
			continue
		}
		s.order = append(s.order, mem.key)
		s.vals[mem.key] = v
	}
	return nil
}

func hasMember(ms []jsonMember, key string) bool {
	for _, m := range ms {
		if m.key == key {
			return true
		}
	}
	return false
}

func (c jsonCodec) value(_ *Manager, s *Session) (any, error) { return c.text(s) }

// text is the stored string of s: its JSON, encrypted with a cipher.
func (c jsonCodec) text(s *Session) (string, error) {
	text := sessionJSON(s)
	if c.cipher != nil {
		return c.cipher.encrypt(text)
	}
	return string(text), nil
}

func (c jsonCodec) update(ctx context.Context, m *Manager, s *Session, now time.Time) (gone bool, err error) {
	for attempt := 1; ; attempt++ {
		w := m.write(s, now, false)
		text, err := c.text(s)
		if err != nil {
			return false, err
		}
		w.set = append(bson.D{{Key: "session", Value: text}}, w.set...)
		filter := append(m.ly.filter(s.sid), bson.E{Key: "session", Value: s.stored})
		matched, err := m.updateOne(ctx, "nodesession: update", filter, &w, s.loaded, false)
		if err != nil {
			return false, err
		}
		if matched {
			s.stored = text
			return false, nil
		}
		// Changed by another writer, or gone.
		fresh, err := m.reread(ctx, s.sid)
		if err != nil {
			return false, err
		}
		if fresh == nil {
			return true, nil
		}
		if attempt == maxSaveAttempts {
			return false, ErrConflict
		}
		s.rebase(fresh)
	}
}

// sessionJSON is the JSON text of s: the stored members in their order and
// exact text, except the values s changed (in place) and deleted (left
// out), then the keys s added; the cookie with its touched expires.
func sessionJSON(s *Session) []byte {
	var ms []jsonMember
	seen := map[string]bool{}
	cookieRaw := func() []byte {
		if s.cookieMems == nil {
			return appendJSONObject(nil, s.cookie.expressJSON())
		}
		var exp any
		if s.cookie.expires != nil {
			exp = *s.cookie.expires
		}
		cms := append([]jsonMember(nil), s.cookieMems...)
		found := false
		for i := range cms {
			if cms[i].key == "expires" {
				cms[i].raw, found = appendJSON(nil, exp), true
			}
		}
		if !found {
			cms = append(cms, jsonMember{key: "expires", raw: appendJSON(nil, exp)})
		}
		return appendJSONObject(nil, cms)
	}
	if s.jsonMems == nil {
		ms = append(ms, jsonMember{key: "cookie", raw: cookieRaw()})
	}
	for _, mem := range s.jsonMems {
		switch {
		case mem.key == "cookie":
			if s.cookie.present {
				mem.raw = cookieRaw()
			}
		case s.removed[mem.key]:
			continue
		case s.changed[mem.key]:
			mem.raw = appendJSON(nil, s.vals[mem.key])
		}
		seen[mem.key] = true
		ms = append(ms, mem)
	}
	for _, k := range s.order {
		if seen[k] || !s.changed[k] {
			continue
		}
		seen[k] = true
		ms = append(ms, jsonMember{key: k, raw: appendJSON(nil, s.vals[k])})
	}
	return appendJSONObject(nil, ms)
}
