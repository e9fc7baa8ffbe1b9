package gorillastore

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"fmt"

	"github.com/gorilla/sessions"

	"github.com/mongosession/mongosession"
)

// Serializer encodes a session's Values for storage and decodes them back.
// Deserialize adds the decoded values to session.Values (which is never
// nil); an error leaves the session to be discarded by the caller.
type Serializer interface {
	Serialize(session *sessions.Session) ([]byte, error)
	Deserialize(b []byte, session *sessions.Session) error
}

// GobSerializer encodes Values with encoding/gob, as gorilla's own stores
// do: any key and value types, custom ones registered with gob.Register.
// It is the default.
//
// gob trusts its input: a few dozen stored bytes can claim a map of 2^28
// entries and make the decoder allocate gigabytes (golang/go#79539), which
// no recover catches. Whoever can write to the sessions collection can
// send such bytes. Where the database is not fully trusted, set the
// store's EncryptionKeys (authenticated encryption: injected bytes never
// reach gob) or use JSONSerializer.
type GobSerializer struct{}

// Serialize gob-encodes session.Values. An unregistered custom type is an
// error naming it.
func (GobSerializer) Serialize(session *sessions.Session) ([]byte, error) {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(session.Values); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Deserialize gob-decodes b into session.Values. Stored bytes that do not
// decode are an error, never a panic: encoding/gob panics on some hostile
// inputs (a []byte map key, "hash of unhashable type"), which Deserialize
// recovers into an error wrapping mongosession.ErrCorrupt.
func (GobSerializer) Deserialize(b []byte, session *sessions.Session) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: gob values do not decode: %v", mongosession.ErrCorrupt, r)
		}
	}()
	return gob.NewDecoder(bytes.NewReader(b)).Decode(&session.Values)
}

// JSONSerializer encodes Values as a JSON object, readable in the
// database by other languages. Keys must be strings; values come back as
// JSON types (numbers as float64, objects as map[string]interface{}), so
// custom types do not survive a round trip as themselves.
type JSONSerializer struct{}

// Serialize encodes session.Values as a JSON object. A key that is not a
// string is an error.
func (JSONSerializer) Serialize(session *sessions.Session) ([]byte, error) {
	m := make(map[string]interface{}, len(session.Values))
	for k, v := range session.Values {
		ks, ok := k.(string)
		if !ok {
			return nil, fmt.Errorf("gorillastore: JSONSerializer: key of type %T is not a string", k)
		}
		m[ks] = v
	}
	return json.Marshal(m)
}

// Deserialize decodes a JSON object into session.Values.
func (JSONSerializer) Deserialize(b []byte, session *sessions.Session) error {
	var m map[string]interface{}
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	for k, v := range m {
		session.Values[k] = v
	}
	return nil
}
