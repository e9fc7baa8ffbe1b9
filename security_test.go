package mongosession_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/mongosession/mongosession"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// errorSink collects what OnError receives.
type errorSink struct {
	mu   sync.Mutex
	errs []error
}

func (e *errorSink) add(err error) { e.mu.Lock(); e.errs = append(e.errs, err); e.mu.Unlock() }
func (e *errorSink) all() []error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]error(nil), e.errs...)
}

// rawDump returns every stored document's bytes, as a backup would hold them.
func rawDump(t *testing.T, s *mongosession.Store) []bson.Raw {
	cur, err := rawCollection(t, s).Find(ctx, bson.D{})
	must(t, err)
	var docs []bson.Raw
	for cur.Next(ctx) {
		docs = append(docs, append(bson.Raw(nil), cur.Current...))
	}
	must(t, cur.Err())
	return docs
}

func TestDefaultDumpYieldsNoUsableToken(t *testing.T) {
	s := newStore(t, mongosession.Options{})
	tokens := []string{"tokenAlpha0123456789", "tokenBeta0123456789", "tokenGamma0123456789"}
	for _, tok := range tokens {
		must(t, s.CommitCtx(ctx, tok, []byte("data of session "+tok[:6]), hour()))
	}
	docs := rawDump(t, s)
	if len(docs) != len(tokens) {
		t.Fatalf("%d documents; want %d", len(docs), len(tokens))
	}
	for _, d := range docs {
		for _, tok := range tokens {
			if bytes.Contains(d, []byte(tok)) {
				t.Fatalf("a stored document contains a token in clear: %s", d)
			}
		}
		// Try every stored string and byte string as a cookie.
		elems, _ := d.Elements()
		for _, e := range elems {
			var candidates []string
			if str, ok := e.Value().StringValueOK(); ok {
				candidates = append(candidates, str)
			}
			if _, b, ok := e.Value().BinaryOK(); ok {
				candidates = append(candidates, string(b))
			}
			for _, c := range candidates {
				if _, found, err := s.FindCtx(ctx, c); err != nil || found {
					t.Fatalf("stored value of %q works as a token (found=%v err=%v)", e.Key(), found, err)
				}
			}
		}
		if id := d.Lookup("_id").StringValue(); id == "" || strings.ContainsAny(id, "+/=") {
			t.Fatalf("stored _id %q is not unpadded base64url", id)
		}
	}
	for _, tok := range tokens {
		if b, found, err := s.FindCtx(ctx, tok); err != nil || !found || string(b) != "data of session "+tok[:6] {
			t.Fatalf("the real token no longer finds its session: %q %v %v", b, found, err)
		}
	}
	// All's keys are handles for scs's Iterate: usable with this Store,
	// useless anywhere else (another Store on the same collection stands
	// for another process, or an attacker's).
	all, err := s.AllCtx(ctx)
	must(t, err)
	if len(all) != len(tokens) {
		t.Fatalf("All has %d sessions; want %d", len(all), len(tokens))
	}
	other := newStore(t, mongosession.Options{Collection: s.Collection().Name()})
	for key := range all {
		for _, tok := range tokens {
			if strings.Contains(key, tok) {
				t.Fatalf("All key %q contains a token", key)
			}
		}
		if _, found, err := s.FindCtx(ctx, key); err != nil || !found {
			t.Fatalf("All key does not find its session in its own store: %v %v", found, err)
		}
		for _, c := range []string{key, strings.TrimPrefix(key, "\x00"), key[:len(key)-1] + "A"} {
			if _, found, err := other.FindCtx(ctx, c); err != nil || found {
				t.Fatalf("All key %q works in another store (found=%v err=%v)", c, found, err)
			}
		}
	}
}

func TestMigratePlainIDs(t *testing.T) {
	plain := newStore(t, mongosession.Options{PlainIDs: true})
	coll := plain.Collection().Name()
	must(t, plain.CommitCtx(ctx, "oldToken", []byte("from before hashing"), hour()))
	must(t, plain.CommitCtx(ctx, "loggedOut", []byte("bye"), hour()))

	strict := newStore(t, mongosession.Options{Collection: coll})
	if _, found, _ := strict.FindCtx(ctx, "oldToken"); found {
		t.Fatal("a hashed store without MigratePlainIDs found a plain-keyed session")
	}
	migrating := newStore(t, mongosession.Options{Collection: coll, MigratePlainIDs: true})
	b, found, err := migrating.FindCtx(ctx, "oldToken")
	if err != nil || !found || string(b) != "from before hashing" {
		t.Fatalf("migrating Find = %q %v %v; want the plain-keyed session", b, found, err)
	}
	if rec, _, _ := migrating.Backend().FindRecord(ctx, "oldToken"); !rec.Stale {
		t.Fatal("a session found under its plain token is not Stale")
	}
	must(t, migrating.CommitCtx(ctx, "oldToken", []byte("now hashed"), hour()))
	if b, found, _ := strict.FindCtx(ctx, "oldToken"); !found || string(b) != "now hashed" {
		t.Fatalf("after a commit the session is not under its hash: %q %v", b, found)
	}
	if rec, _, _ := migrating.Backend().FindRecord(ctx, "oldToken"); rec.Stale {
		t.Fatal("a session under its hash is still Stale")
	}
	// The commit moved the session: no plain token stays at rest.
	if n, err := rawCollection(t, plain).CountDocuments(ctx, bson.D{{Key: "_id", Value: "oldToken"}}); err != nil || n != 0 {
		t.Fatalf("%d documents still under the plain token after the commit (%v); want 0", n, err)
	}
	if n, err := migrating.Count(ctx); err != nil || n != 2 {
		t.Fatalf("Count = %d %v; want 2 (each session once)", n, err)
	}
	// Logout must remove both forms, or the plain copy would come back.
	must(t, migrating.DeleteCtx(ctx, "loggedOut"))
	if _, found, _ := migrating.FindCtx(ctx, "loggedOut"); found {
		t.Fatal("a deleted session came back from its plain-keyed copy")
	}
}

// TestMigratePlainIDsStoredHashIsNoCookie presents each stored _id of a
// hashed session as a token to a migrating store: the lookup under a plain
// token must not find the document written under that hash, with or
// without encryption, for find, touch and delete alike.
func TestMigratePlainIDsStoredHashIsNoCookie(t *testing.T) {
	for name, keys := range map[string][][]byte{"plain": nil, "encrypted": {key(1)}} {
		t.Run(name, func(t *testing.T) {
			s := newStore(t, mongosession.Options{MigratePlainIDs: true, EncryptionKeys: keys})
			must(t, s.CommitCtx(ctx, "victimToken", []byte("user_id=42"), hour()))
			stolen := mongosession.HashID("victimToken")
			if b, found, err := s.FindCtx(ctx, stolen); err != nil || found {
				t.Fatalf("the stored hash works as a cookie: %q %v %v", b, found, err)
			}
			if touched, err := s.Touch(ctx, stolen, hour()); err != nil || touched {
				t.Fatalf("Touch(stored hash) = %v %v; want false", touched, err)
			}
			must(t, s.DeleteCtx(ctx, stolen))
			if b, found, err := s.FindCtx(ctx, "victimToken"); err != nil || !found || string(b) != "user_id=42" {
				t.Fatalf("Delete(stored hash) harmed the victim's session: %q %v %v", b, found, err)
			}
			must(t, s.CommitCtx(ctx, stolen, []byte("attacker"), hour()))
			if b, _, _ := s.FindCtx(ctx, "victimToken"); string(b) != "user_id=42" {
				t.Fatalf("Commit(stored hash) changed the victim's session to %q", b)
			}
		})
	}
}

func TestEncryptionAtRest(t *testing.T) {
	s := newStore(t, mongosession.Options{EncryptionKeys: [][]byte{key(1)}})
	secret := []byte("user_id=42;email=alice@example.com")
	must(t, s.CommitCtx(ctx, "encTok", secret, hour()))
	for _, d := range rawDump(t, s) {
		if bytes.Contains(d, []byte("alice@example.com")) || bytes.Contains(d, []byte("user_id")) {
			t.Fatal("plaintext visible in the stored document")
		}
	}
	got, found, err := s.FindCtx(ctx, "encTok")
	if err != nil || !found || !bytes.Equal(got, secret) {
		t.Fatalf("Find = %q %v %v", got, found, err)
	}
	// Same plaintext twice gives different ciphertexts (random nonces).
	must(t, s.CommitCtx(ctx, "encTok2", secret, hour()))
	docs := rawDump(t, s)
	_, c1, _ := docs[0].Lookup("session").BinaryOK()
	_, c2, _ := docs[1].Lookup("session").BinaryOK()
	if bytes.Equal(c1, c2) {
		t.Fatal("two encryptions of the same data are identical")
	}
}

func TestEncryptionKeyRotation(t *testing.T) {
	old := newStore(t, mongosession.Options{EncryptionKeys: [][]byte{key(1)}})
	coll := old.Collection().Name()
	must(t, old.CommitCtx(ctx, "rot", []byte("written under key 1"), hour()))

	rotated := newStore(t, mongosession.Options{Collection: coll, EncryptionKeys: [][]byte{key(2), key(1)}})
	b, found, err := rotated.FindCtx(ctx, "rot")
	if err != nil || !found || string(b) != "written under key 1" {
		t.Fatalf("old key no longer decrypts after rotation: %q %v %v", b, found, err)
	}
	if rec, _, _ := rotated.Backend().FindRecord(ctx, "rot"); !rec.Stale {
		t.Fatal("a session under a retired key is not Stale")
	}
	must(t, rotated.CommitCtx(ctx, "rot", []byte("rewritten"), hour()))
	if rec, _, _ := rotated.Backend().FindRecord(ctx, "rot"); rec.Stale {
		t.Fatal("a session under the current key is Stale")
	}

	onlyNew := newStore(t, mongosession.Options{Collection: coll, EncryptionKeys: [][]byte{key(2)}, OnError: func(error) {}})
	if b, found, err := onlyNew.FindCtx(ctx, "rot"); err != nil || !found || string(b) != "rewritten" {
		t.Fatalf("a write after rotation is not under the new key: %q %v %v", b, found, err)
	}
	if _, found, _ := old.FindCtx(ctx, "rot"); found {
		t.Fatal("a store with only the retired key still reads the rewritten session")
	}
}

func TestEncryptedCiphertextBoundToSession(t *testing.T) {
	var sink errorSink
	s := newStore(t, mongosession.Options{EncryptionKeys: [][]byte{key(1)}, OnError: sink.add})
	must(t, s.CommitCtx(ctx, "victim", []byte("victim's data"), hour()))
	must(t, s.CommitCtx(ctx, "attacker", []byte("attacker's data"), hour()))
	raw := rawCollection(t, s)
	var victim bson.Raw
	must(t, raw.FindOne(ctx, bson.D{{Key: "_id", Value: mongosession.HashID("victim")}}).Decode(&victim))
	_, err := raw.UpdateOne(ctx, bson.D{{Key: "_id", Value: mongosession.HashID("attacker")}}, bson.D{{Key: "$set", Value: bson.D{{Key: "session", Value: victim.Lookup("session")}}}})
	must(t, err)
	if b, found, err := s.FindCtx(ctx, "attacker"); err != nil || found {
		t.Fatalf("a ciphertext moved into another session decrypted: %q %v %v", b, found, err)
	}
	if errs := sink.all(); len(errs) == 0 || !errors.Is(errs[0], mongosession.ErrCorrupt) {
		t.Fatalf("OnError got %v; want ErrCorrupt", errs)
	}
	if b, _, _ := s.FindCtx(ctx, "victim"); string(b) != "victim's data" {
		t.Fatal("the victim's own session was harmed")
	}
}

func TestTamperedAndMismatchedEncryption(t *testing.T) {
	var sink errorSink
	enc := newStore(t, mongosession.Options{EncryptionKeys: [][]byte{key(1)}, OnError: sink.add})
	coll := enc.Collection().Name()
	must(t, enc.CommitCtx(ctx, "tamper", []byte("0123456789abcdef"), hour()))
	raw := rawCollection(t, enc)
	var doc bson.Raw
	must(t, raw.FindOne(ctx, bson.D{{Key: "_id", Value: mongosession.HashID("tamper")}}).Decode(&doc))
	st, data, _ := doc.Lookup("session").BinaryOK()
	for name, mutated := range map[string][]byte{
		"flipped bit": func() []byte { d := bytes.Clone(data); d[len(d)-1] ^= 1; return d }(),
		"truncated":   data[:len(data)-5],
		"header only": data[:10],
		"empty":       {},
	} {
		_, err := raw.UpdateOne(ctx, bson.D{{Key: "_id", Value: mongosession.HashID("tamper")}}, bson.D{{Key: "$set", Value: bson.D{{Key: "session", Value: bson.Binary{Subtype: st, Data: mutated}}}}})
		must(t, err)
		if b, found, err := enc.FindCtx(ctx, "tamper"); err != nil || found {
			t.Errorf("%s ciphertext: Find = %q %v %v; want not found", name, b, found, err)
		}
	}
	wrongKey := newStore(t, mongosession.Options{Collection: coll, EncryptionKeys: [][]byte{key(9)}, OnError: sink.add})
	must(t, enc.CommitCtx(ctx, "k", []byte("v"), hour()))
	if _, found, err := wrongKey.FindCtx(ctx, "k"); err != nil || found {
		t.Errorf("wrong key: found=%v err=%v; want not found", found, err)
	}
	noKey := newStore(t, mongosession.Options{Collection: coll, OnError: sink.add})
	if b, found, err := noKey.FindCtx(ctx, "k"); err != nil || found {
		t.Errorf("no key: Find = %q %v %v; want not found, not ciphertext as data", b, found, err)
	}
	plain := newStore(t, mongosession.Options{Collection: coll})
	must(t, plain.CommitCtx(ctx, "plain", []byte("unencrypted"), hour()))
	if _, found, err := enc.FindCtx(ctx, "plain"); err != nil || found {
		t.Errorf("plain data read by an encrypting store: found=%v err=%v; want refused", found, err)
	}
	for _, err := range sink.all() {
		if !errors.Is(err, mongosession.ErrCorrupt) {
			t.Errorf("OnError got %v; want ErrCorrupt", err)
		}
	}
}

func TestTokensNeverLogged(t *testing.T) {
	var logs logBuffer
	logs.t = t
	var sink errorSink
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	const token = "SECRETtoken_do_not_log_0123456789"
	s := newStore(t, mongosession.Options{Logger: logger, OnError: sink.add, EncryptionKeys: [][]byte{key(3)}})
	must(t, s.CommitCtx(ctx, token, []byte("v"), hour()))
	// Corrupt it so that reading reports an error.
	_, err := rawCollection(t, s).UpdateOne(ctx, bson.D{{Key: "_id", Value: mongosession.HashID(token)}}, bson.D{{Key: "$set", Value: bson.D{{Key: "session", Value: "not binary"}}}})
	must(t, err)
	var errs []error
	_, _, err = s.FindCtx(ctx, token)
	errs = append(errs, err)
	_, err = s.Touch(ctx, token, hour())
	errs = append(errs, err)
	errs = append(errs, s.CommitCtx(ctx, token, make([]byte, mongosession.MaxDocumentSize), hour()))
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, _, err = s.FindCtx(cctx, token)
	errs = append(errs, err)
	errs = append(errs, s.CommitCtx(cctx, token, []byte("v"), hour()))
	must(t, s.Close())
	_, _, err = s.FindCtx(ctx, token)
	errs = append(errs, err)
	errs = append(errs, sink.all()...)
	if len(sink.all()) == 0 {
		t.Fatal("the corrupt document was not reported; the test proves nothing")
	}
	for _, err := range errs {
		if err != nil && strings.Contains(err.Error(), token) {
			t.Errorf("an error carries the token: %v", err)
		}
	}
	if strings.Contains(logs.String(), token) {
		t.Errorf("the log carries the token:\n%s", logs.String())
	}
}
