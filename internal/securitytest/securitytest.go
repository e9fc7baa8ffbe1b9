// Package securitytest holds the checks of the security suite (SECURITY.md)
// that every face runs the same way: the session ID sample check, the
// filter check over a command monitor, the dump helpers and the sinks that
// capture logs and errors to scan for tokens. What differs per face (the
// app, the cookie codec, the corpus) stays in each face's
// security_test.go.
package securitytest

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/mongotest"
)

// Key returns a 32-byte key of b repeated, for EncryptionKeys.
func Key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// CheckIDs checks a sample of session IDs: each 256 bits in unpadded,
// canonical base64url (43 characters of A-Z a-z 0-9 - _), no two alike,
// and the bits balanced overall and, for samples of 256 or more, at every
// one of the 256 positions. The bounds are 8 standard deviations: a
// generator from crypto/rand never fails them, a stuck bit, a counter or a
// zeroed half does. An empty sample fails the test; what names the sample
// in the failure messages.
func CheckIDs(t testing.TB, what string, ids []string) {
	t.Helper()
	if len(ids) == 0 {
		t.Fatalf("%s: no IDs to check", what)
	}
	seen := make(map[string]bool, len(ids))
	var ones [256]int
	total := 0
	for _, id := range ids {
		if len(id) != 43 {
			t.Fatalf("%s: ID %q has %d characters; want 43", what, id, len(id))
		}
		b, err := base64.RawURLEncoding.Strict().DecodeString(id)
		if err != nil || len(b) != 32 {
			t.Fatalf("%s: ID %q is not 32 bytes of canonical unpadded base64url (%v)", what, id, err)
		}
		if seen[id] {
			t.Fatalf("%s: ID %q issued twice in %d", what, id, len(ids))
		}
		seen[id] = true
		for i, c := range b {
			for j := range 8 {
				if c>>j&1 == 1 {
					ones[i*8+j]++
					total++
				}
			}
		}
	}
	n := len(ids)
	bits := float64(n * 256)
	if d := math.Abs(float64(total) - bits/2); d > 8*math.Sqrt(bits)/2 {
		t.Fatalf("%s: %d of %.0f bits set; want about half (off by %.0f)", what, total, bits, d)
	}
	if n >= 256 {
		for p, k := range ones {
			if d := math.Abs(float64(k) - float64(n)/2); d > 8*math.Sqrt(float64(n))/2 {
				t.Fatalf("%s: bit %d is set in %d of %d IDs; want about half", what, p, k, n)
			}
		}
	}
}

// Command is one command sent to the collection under test: its name and
// a copy of its body.
type Command = mongotest.Command

// Monitor records every command sent to one collection (the commands
// whose first element names it); commands on other collections and
// handshakes are left out. It is safe for concurrent use. Use Started as
// an event.CommandMonitor's Started, or Monitor for the whole monitor;
// Take returns the commands recorded since the last Take and forgets
// them. It is the general recorder of mongotest, made by
// mongotest.CollectionCommands.
type Monitor = mongotest.Commands

// NewMonitor returns a Monitor of the collection named coll.
func NewMonitor(coll string) *Monitor { return mongotest.CollectionCommands(coll) }

// Filters returns the query filters a command carries: find's filter,
// count's and findAndModify's query, each q of update and delete, each
// $match of an aggregate pipeline. Other commands carry none.
func Filters(c Command) []bson.Raw {
	var out []bson.Raw
	add := func(v bson.RawValue) {
		if d, ok := v.DocumentOK(); ok {
			out = append(out, d)
		}
	}
	each := func(array, field string) {
		vals, _ := c.Body.Lookup(array).Array().Values()
		for _, v := range vals {
			add(v.Document().Lookup(field))
		}
	}
	switch c.Name {
	case "find":
		add(c.Body.Lookup("filter"))
	case "count", "findAndModify":
		add(c.Body.Lookup("query"))
	case "update":
		each("updates", "q")
	case "delete":
		each("deletes", "q")
	case "aggregate":
		vals, _ := c.Body.Lookup("pipeline").Array().Values()
		for _, v := range vals {
			add(v.Document().Lookup("$match"))
		}
	}
	return out
}

// CheckFilter returns why f is not a filter the store may send, or nil:
// only _id as a string, the expiry as {$gt: date}, and the ended marker
// as {$exists: false}. Any other field,
// any operator, an _id that is a document, array or anything but a
// string, is an injection. A malformed document is its decoding error.
func CheckFilter(f bson.Raw) error {
	elems, err := f.Elements()
	if err != nil {
		return err
	}
	for _, e := range elems {
		k, v := e.Key(), e.Value()
		switch k {
		case "_id":
			if v.Type != bson.TypeString {
				return fmt.Errorf("_id is BSON %s, not a string: %.100s", v.Type, v)
			}
		case mongosession.DefaultExpiresKey:
			d, ok := v.DocumentOK()
			ops, _ := d.Elements()
			if !ok || len(ops) != 1 || ops[0].Key() != "$gt" || ops[0].Value().Type != bson.TypeDateTime {
				return fmt.Errorf("expiry condition %.100s; want {$gt: date}", v)
			}
		case "ended":
			d, ok := v.DocumentOK()
			ops, _ := d.Elements()
			if !ok || len(ops) != 1 || ops[0].Key() != "$exists" || ops[0].Value().Type != bson.TypeBoolean || ops[0].Value().Boolean() {
				return fmt.Errorf("ended condition %.100s; want {$exists: false}", v)
			}
		default:
			return fmt.Errorf("unexpected filter field %.100q", k)
		}
	}
	return nil
}

// CheckCommands marks the test failed (t.Errorf, once per unsafe filter)
// unless every filter of cmds passes CheckFilter, and returns the string
// _id values the safe filters looked up.
func CheckCommands(t testing.TB, cmds []Command) []string {
	t.Helper()
	var ids []string
	for _, c := range cmds {
		for _, f := range Filters(c) {
			if err := CheckFilter(f); err != nil {
				t.Errorf("%s command with an unsafe filter: %v", c.Name, err)
				continue
			}
			if s, ok := f.Lookup("_id").StringValueOK(); ok {
				ids = append(ids, s)
			}
		}
	}
	return ids
}

// Text is a concurrency-safe sink for log output (as an io.Writer) and
// errors (through Add, which fits Options.OnError). The zero value is
// ready to use.
type Text struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	errs []error
}

// Write appends p to the text; it never fails.
func (s *Text) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

// Add records err.
func (s *Text) Add(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errs = append(s.errs, err)
}

// String returns everything written so far.
func (s *Text) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// All returns a copy of the errors added so far, nil if none.
func (s *Text) All() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.errs...)
}

// HasCorrupt reports whether any error added so far is
// mongosession.ErrCorrupt.
func (s *Text) HasCorrupt() bool {
	for _, err := range s.All() {
		if errors.Is(err, mongosession.ErrCorrupt) {
			return true
		}
	}
	return false
}

// Stored returns every string and byte string in doc, at any depth: what
// an attacker holding a dump would try as a cookie.
func Stored(doc bson.Raw) []string {
	var out []string
	var walk func(v bson.RawValue)
	walk = func(v bson.RawValue) {
		switch v.Type {
		case bson.TypeString:
			out = append(out, v.StringValue())
		case bson.TypeBinary:
			_, b := v.Binary()
			out = append(out, string(b))
		case bson.TypeEmbeddedDocument, bson.TypeArray:
			vals, _ := bson.Raw(v.Value).Values()
			for _, x := range vals {
				walk(x)
			}
		}
	}
	walk(bson.RawValue{Type: bson.TypeEmbeddedDocument, Value: doc})
	return out
}

// Dump returns every document of coll, as a backup would hold them; any
// error fails the test.
func Dump(t testing.TB, coll *mongo.Collection) []bson.Raw {
	t.Helper()
	ctx := context.Background()
	cur, err := coll.Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var docs []bson.Raw
	for cur.Next(ctx) {
		docs = append(docs, bytes.Clone(cur.Current))
	}
	if err := cur.Err(); err != nil {
		t.Fatal(err)
	}
	return docs
}

// Env is a mongosession store on the test server whose client records
// every command on its collection (Monitor), whose logger captures
// everything at Debug level (Logs) and whose OnError captures every report
// (OnError), beside a client of the test's own on the same collection
// (Raw) for reading and writing documents as stored.
type Env struct {
	Store   *mongosession.Store
	Coll    string
	Monitor *Monitor
	Logs    *Text
	OnError *Text
	Raw     *mongo.Collection
}

// NewEnv opens the store with opts, its Client, Database, Logger and
// OnError replaced by the Env's own; opts.Collection may name the
// collection of another Env to share it, and is a fresh one when empty.
// The Monitor still holds the commands New sent: Take them before the
// commands under test. When the test ends, every document of the
// collection is deleted and the store closed; a failure to connect or to
// open fails the test.
func NewEnv(t testing.TB, opts mongosession.Options) *Env {
	t.Helper()
	if opts.Collection == "" {
		opts.Collection = mongotest.Collection(t)
	}
	e := &Env{Coll: opts.Collection, Monitor: NewMonitor(opts.Collection), Logs: &Text{}, OnError: &Text{}}
	client, err := mongo.Connect(options.Client().ApplyURI(mongotest.URI(t)).
		SetMonitor(e.Monitor.Monitor()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	own, err := mongo.Connect(options.Client().ApplyURI(mongotest.URI(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = own.Disconnect(context.Background()) })
	e.Raw = own.Database(mongotest.Database).Collection(opts.Collection)

	opts.Client = client
	opts.Database = mongotest.Database
	opts.Logger = slog.New(slog.NewTextHandler(e.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.OnError = e.OnError.Add
	e.Store, err = mongosession.New(context.Background(), opts)
	if err != nil {
		t.Fatalf("mongosession.New: %v", err)
	}
	t.Cleanup(func() {
		mongotest.Drop(t, e.Raw)
		_ = e.Store.Close()
	})
	return e
}

// Dump returns every stored document of the Env's collection (see Dump).
func (e *Env) Dump(t testing.TB) []bson.Raw {
	t.Helper()
	return Dump(t, e.Raw)
}

// Session returns the stored session data of the document whose _id is
// id, as binary, read with the Env's own client. A missing document or a
// session that is not binary fails the test.
func (e *Env) Session(t testing.TB, id string) bson.Binary {
	t.Helper()
	var doc bson.Raw
	if err := e.Raw.FindOne(context.Background(), bson.D{{Key: "_id", Value: id}}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	sub, data, ok := doc.Lookup("session").BinaryOK()
	if !ok {
		t.Fatal("the stored session is not binary")
	}
	return bson.Binary{Subtype: sub, Data: data}
}

// SetSession overwrites the stored session data of the document whose _id
// is id, as an attacker with write access to the database would. The
// document must exist.
func (e *Env) SetSession(t testing.TB, id string, b bson.Binary) {
	t.Helper()
	res, err := e.Raw.UpdateOne(context.Background(), bson.D{{Key: "_id", Value: id}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "session", Value: b}}}})
	if err != nil || res.MatchedCount != 1 {
		t.Fatalf("rewriting a document: %v, %v", res, err)
	}
}
