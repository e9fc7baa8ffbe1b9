package mongosession

// Fuzz targets for what the store reads from outside: cookie tokens,
// stored documents, ciphertexts and options. They need no server. The
// seed corpora under testdata/fuzz/<FuzzName>/ (and the f.Add seeds) run
// with every go test; explore further with, one target at a time:
//
//	MONGODB_URI=mongodb://127.0.0.1:1 go test -run '^$' -fuzz '^FuzzToken$' -fuzztime 3m .
//
// (MONGODB_URI keeps TestMain from starting a test server in every fuzz
// worker: these targets never connect.)

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// fuzzStore returns a Store with validated options and no connection, for
// the parts of the engine that work without a server.
func fuzzStore(t testing.TB, opts Options) *Store {
	t.Helper()
	if opts.URI == "" {
		opts.URI = "mongodb://127.0.0.1:1/"
	}
	if opts.Collection == "" {
		opts.Collection = "sessions"
	}
	cfg, err := opts.validate()
	if err != nil {
		t.Fatalf("validate: %v", err)
	}
	s := &Store{cfg: cfg}
	if len(cfg.EncryptionKeys) > 0 {
		if s.cipher, err = newCipherSet(cfg.EncryptionKeys); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// fuzzKey is a fixed 32-byte key made from b.
func fuzzKey(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

// tokenOracle is validToken's contract, written independently.
func tokenOracle(tok string) bool {
	if len(tok) == 0 || len(tok) > MaxTokenLength || !utf8.ValidString(tok) {
		return false
	}
	for _, r := range tok {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

func isBase64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// FuzzToken checks token validation and StoredID on arbitrary cookie
// values: never a panic; validity as the contract says; a plain ID is the
// token itself; a hashed ID is always 43 characters of base64url, the same
// for the same token and different from the token.
func FuzzToken(f *testing.F) {
	for _, seed := range []string{
		"", "a", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", `{"$gt":""}`, "$where",
		"tok\x00en", "tok\nen", "\x7f", "\xff\xfe", "é€𝄞", strings.Repeat("A", MaxTokenLength),
		strings.Repeat("A", MaxTokenLength+1), strings.Repeat("é", MaxTokenLength/2), "..%2F", "%00",
	} {
		f.Add(seed)
	}
	plain := fuzzStore(f, Options{PlainIDs: true})
	hashed := fuzzStore(f, Options{})
	migrating := fuzzStore(f, Options{MigratePlainIDs: true})
	f.Fuzz(func(t *testing.T, tok string) {
		want := tokenOracle(tok)
		if got := validToken(tok); got != want {
			t.Fatalf("validToken(%q) = %v; want %v", tok, got, want)
		}
		id, ok := plain.storedID(tok)
		if ok != want || (ok && id != tok) || (!ok && id != "") {
			t.Fatalf("plain StoredID(%q) = %q, %v", tok, id, ok)
		}
		for _, s := range []*Store{hashed, migrating} {
			hid, ok := s.storedID(tok)
			if ok != want {
				t.Fatalf("hashed StoredID(%q) ok = %v; want %v", tok, ok, want)
			}
			if !ok {
				if hid != "" {
					t.Fatalf("hashed StoredID(%q) = %q for an invalid token", tok, hid)
				}
				continue
			}
			if len(hid) != 43 || !isBase64URL(hid) {
				t.Fatalf("hashed StoredID(%q) = %q: want 43 characters of base64url", tok, hid)
			}
			if hid != HashID(tok) {
				t.Fatalf("StoredID and HashID disagree for %q", tok)
			}
			if !validToken(hid) {
				t.Fatalf("a hashed ID %q is not itself a valid token", hid)
			}
		}
	})
}

// FuzzDecode feeds arbitrary bytes to the document decoders, as a
// collection written by someone else could: decode and record never panic,
// every error wraps ErrCorrupt, and whatever decodes is consistent with the
// document (the data is the session binary, with or without encryption).
func FuzzDecode(f *testing.F) {
	later := bson.NewDateTimeFromTime(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	docs := []bson.D{
		{{Key: "_id", Value: "tok"}, {Key: "session", Value: bson.Binary{Data: []byte("data")}}, {Key: "expires", Value: later}},
		{{Key: "_id", Value: "tok"}, {Key: "session", Value: "a string"}, {Key: "expires", Value: later}},
		{{Key: "_id", Value: "tok"}, {Key: "session", Value: int32(42)}, {Key: "expires", Value: later}},
		{{Key: "_id", Value: "tok"}, {Key: "session", Value: bson.D{{Key: "views", Value: 1}}}, {Key: "expires", Value: later}},
		{{Key: "_id", Value: "tok"}, {Key: "expires", Value: later}},
		{{Key: "_id", Value: "tok"}, {Key: "session", Value: bson.Binary{Data: []byte("x")}}},
		{{Key: "_id", Value: "tok"}, {Key: "session", Value: bson.Binary{Data: []byte("x")}}, {Key: "expires", Value: "2030-01-01"}},
		{{Key: "_id", Value: int64(7)}, {Key: "session", Value: bson.Binary{Data: []byte("x")}}, {Key: "expires", Value: later}},
		{{Key: "_id", Value: "tok"}, {Key: "session", Value: bson.Binary{Subtype: subtypeEncrypted, Data: []byte("junk")}}, {Key: "expires", Value: later}},
		{{Key: "session", Value: bson.Binary{Data: []byte("x")}}, {Key: "expires", Value: later}},
		{{Key: "_id", Value: "tok"}, {Key: "session", Value: bson.Binary{Data: []byte("ok")}}, {Key: "expires", Value: later}, {Key: "owner", Value: bson.D{{Key: "n", Value: bson.D{{Key: "n", Value: 1}}}}}},
	}
	for _, d := range docs {
		b, err := bson.Marshal(d)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
		f.Add(b, true)
	}
	f.Add([]byte{}, false)
	f.Add([]byte{5, 0, 0, 0, 0}, false)
	f.Add([]byte{0xff, 0xff, 0xff, 0x7f, 0x05, 's', 0}, true)

	// A genuine encrypted document, so that the fuzzer starts from
	// ciphertext the encrypted store can open.
	enc := fuzzStore(f, Options{EncryptionKeys: [][]byte{fuzzKey(1), fuzzKey(2)}})
	sealed, err := enc.seal("tok", "", []byte("secret data"))
	if err != nil {
		f.Fatal(err)
	}
	good, _ := bson.Marshal(bson.D{{Key: "_id", Value: "tok"}, {Key: "session", Value: sealed}, {Key: "expires", Value: later}})
	f.Add(good, true)

	plain := fuzzStore(f, Options{})
	custom := fuzzStore(f, Options{ExpiresKey: "expiresAt"})
	f.Fuzz(func(t *testing.T, doc []byte, encrypted bool) {
		s := plain
		if encrypted {
			s = enc
		}
		for _, st := range []*Store{s, custom} {
			raw := bson.Raw(doc)
			data, _, err := st.decode("tok", raw)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("decode error %v does not wrap ErrCorrupt", err)
				}
				if data != nil {
					t.Fatalf("decode returned data with an error")
				}
			} else {
				checkDecoded(t, st, raw, "tok", data)
			}
			rec, err := st.record(raw)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("record error %v does not wrap ErrCorrupt", err)
				}
				continue
			}
			checkDecoded(t, st, raw, rec.ID, rec.Data)
		}
	})
}

// checkDecoded checks that data, decoded from raw without error, is what
// the document holds: its session binary as stored, or decrypted with the
// store's keys, and never encrypted bytes handed out as plain ones.
func checkDecoded(t *testing.T, s *Store, raw bson.Raw, id string, data []byte) {
	t.Helper()
	sv, err := raw.LookupErr(sessionField)
	if err != nil {
		t.Fatalf("decoded a document without a session field")
	}
	sub, bin, ok := sv.BinaryOK()
	if !ok {
		t.Fatalf("decoded a session field of type %s", sv.Type)
	}
	if _, err := raw.LookupErr(s.cfg.ExpiresKey); err != nil {
		t.Fatalf("decoded a document without %q", s.cfg.ExpiresKey)
	}
	if s.cipher == nil {
		if sub != subtypePlain || !bytes.Equal(bin, data) {
			t.Fatalf("plain store decoded subtype 0x%02x to %q from %q", sub, data, bin)
		}
		if len(bin) > 0 && &bin[0] == &data[0] {
			t.Fatalf("decoded data aliases the document's buffer")
		}
		return
	}
	if sub != subtypeEncrypted {
		t.Fatalf("encrypted store accepted subtype 0x%02x", sub)
	}
	if again, err := s.cipher.open(aad(id, ""), bin); err != nil || !bytes.Equal(again, data) {
		t.Fatalf("decoded data does not match the ciphertext: %v", err)
	}
}

// FuzzOpen gives arbitrary ciphertexts, IDs and fields to the decryption
// of a store with keys: never a panic; nothing opens except what a
// configured key sealed for that very ID and field; a store with other
// keys or none never opens it; a genuine ciphertext round-trips.
func FuzzOpen(f *testing.F) {
	keys := fuzzStore(f, Options{EncryptionKeys: [][]byte{fuzzKey(1), fuzzKey(2)}})
	old := fuzzStore(f, Options{EncryptionKeys: [][]byte{fuzzKey(2)}})
	other := fuzzStore(f, Options{EncryptionKeys: [][]byte{fuzzKey(3)}})
	none := fuzzStore(f, Options{})

	// Genuine ciphertexts, with fixed nonces so that every fuzz worker
	// process makes the same bytes.
	sealedNew := sealFixed(keys.cipher, 0, 1, aad("tok", ""), []byte("secret"))
	sealedOld := sealFixed(old.cipher, 0, 2, aad("tok", ""), []byte("older secret"))
	sealedCtx := sealFixed(keys.cipher, 0, 3, aad("tok", "field"), []byte("x"))
	f.Add(sealedNew, "tok", "", []byte("secret"))
	f.Add(sealedOld, "tok", "", []byte("older secret"))
	f.Add(sealedCtx, "tok", "field", []byte("x"))
	f.Add(sealedNew, "tok2", "", []byte("secret"))
	f.Add(sealedNew, "tok", "field", []byte("secret"))
	f.Add(sealedNew[:encHeaderLen], "tok", "", []byte(nil))
	f.Add([]byte{}, "", "", []byte(nil))
	f.Add([]byte{encVersion}, "tok", "", []byte(nil))
	f.Add(append([]byte{2}, sealedNew[1:]...), "tok", "", []byte("secret"))

	f.Fuzz(func(t *testing.T, ct []byte, id, field string, plain []byte) {
		// Arbitrary bytes: they open only if they are exactly a ciphertext
		// this test sealed for (id, field) (a forgery of GCM would be a
		// finding worth more than this test).
		genuine := id == "tok" && (field == "" && (bytes.Equal(ct, sealedNew) || bytes.Equal(ct, sealedOld)) ||
			field == "field" && bytes.Equal(ct, sealedCtx))
		got, err := keys.open(id, field, bson.Binary{Subtype: subtypeEncrypted, Data: ct})
		switch {
		case err != nil && !errors.Is(err, ErrCorrupt):
			t.Fatalf("Open error %v does not wrap ErrCorrupt", err)
		case err == nil && !genuine:
			t.Fatalf("Open decrypted %x for (%q, %q) without it being sealed so: %q", ct, id, field, got)
		case err != nil && genuine:
			t.Fatalf("Open failed on a genuine ciphertext: %v", err)
		}
		if _, err := other.open(id, field, bson.Binary{Subtype: subtypeEncrypted, Data: ct}); err == nil {
			t.Fatalf("a store with another key opened %x", ct)
		}
		if got, err := none.open(id, field, bson.Binary{Subtype: subtypeEncrypted, Data: ct}); err == nil || got != nil {
			t.Fatalf("a store without keys opened encrypted data")
		}
		if _, err := keys.open(id, field, bson.Binary{Subtype: subtypePlain, Data: ct}); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("a store with keys accepted unencrypted data: %v", err)
		}
		if _, err := keys.cipher.open(aad(id, field), ct); (err == nil) != genuine {
			t.Fatalf("cipherSet.open disagrees with Open: %v", err)
		}

		// Whatever is sealed opens under the same ID and field, and
		// under no other.
		b, err := keys.seal(id, field, plain)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b.Data, plain) && len(plain) >= 8 {
			t.Fatalf("the sealed value contains the plaintext")
		}
		back, err := keys.open(id, field, b)
		if err != nil || !bytes.Equal(back, plain) {
			t.Fatalf("Seal then Open = %q, %v; want %q", back, err, plain)
		}
		if _, err := keys.open(id+"x", field, b); err == nil {
			t.Fatalf("a ciphertext opened under another ID")
		}
		if _, err := other.open(id, field, b); err == nil {
			t.Fatalf("a ciphertext opened under another key")
		}
	})
}

// sealFixed is cipherSet.seal with the key at index k and a nonce made
// from n instead of a random one: the same bytes in every process.
func sealFixed(cs *cipherSet, k int, n byte, aad, plain []byte) []byte {
	key := cs.keys[k]
	out := make([]byte, encHeaderLen, encHeaderLen+len(plain)+key.aead.Overhead())
	out[0] = encVersion
	copy(out[1:], key.id[:])
	out[1+keyIDLen] = n
	return key.aead.Seal(out, out[1+keyIDLen:encHeaderLen], plain, aad)
}

// optionFields are the Options fields an *OptionError may name.
var optionFields = map[string]bool{
	"URI": true, "Client": true, "ClientOptions": true, "Database": true, "Collection": true,
	"Expires": true, "ExpiresKey": true, "ExpireAfter": true, "AutoRemove": true,
	"CleanupInterval": true, "Timeout": true, "PlainIDs": true, "MigratePlainIDs": true, "EndedFor": true,
	"EncryptionKeys": true, "OnError": true, "Logger": true,
}

// FuzzOptions validates arbitrary option values: never a panic; an error
// is an *OptionError naming a real field and matching ErrInvalidOptions,
// and never quotes the URI's password; a success has every default filled
// in and only values New can use.
func FuzzOptions(f *testing.F) {
	f.Add("mongodb://localhost:27017/app", "", "sessions", "", int64(0), int64(0), int64(0), int64(0), 0, false, false, 32)
	f.Add("mongodb://user:hunter2secret@localhost/db?authSource=admin", "db", "s", "expiresAt", int64(time.Hour), int64(time.Second), int64(time.Minute), int64(time.Second), 1, true, true, 32)
	f.Add("mongodb://user:hunter2secret@:bad", "", "s", "", int64(0), int64(0), int64(0), int64(0), 0, false, false, 0)
	f.Add("mongodb+srv://user:pa55word99@cluster0.example.net/?retryWrites=true", "", "s", "", int64(0), int64(0), int64(0), int64(0), 2, false, false, 0)
	f.Add("postgres://x", "", "s", "", int64(0), int64(0), int64(0), int64(0), 0, false, false, 0)
	f.Add("", "", "", "", int64(-1), int64(-1), int64(-1), int64(-1), -1, false, true, 31)
	f.Add("mongodb://localhost/", "a.b", "$cmd", "$x", int64(0), int64(1500*time.Millisecond), int64(0), int64(0), 3, false, false, 33)
	f.Add("mongodb://localhost/", "db\x00", "c\xff", "_id", int64(0), int64(1<<62), int64(0), int64(0), 0, false, false, 0)
	f.Add("mongodb://localhost/?serverSelectionTimeoutMS=abc", "", "session", "session", int64(0), int64(0), int64(0), int64(0), 0, false, false, 0)

	f.Fuzz(func(t *testing.T, uri, db, coll, expiresKey string, expires, expireAfter, cleanup, timeout int64, mode int, hash, migrate bool, keyLen int) {
		o := Options{
			URI: uri, Database: db, Collection: coll, ExpiresKey: expiresKey,
			Expires: time.Duration(expires), ExpireAfter: time.Duration(expireAfter),
			CleanupInterval: time.Duration(cleanup), Timeout: time.Duration(timeout),
			AutoRemove: AutoRemove(mode), PlainIDs: !hash, MigratePlainIDs: migrate,
		}
		if keyLen >= 0 && keyLen <= 64 {
			o.EncryptionKeys = [][]byte{make([]byte, keyLen)}
		}
		c, err := o.validate()
		if err != nil {
			var oe *OptionError
			if !errors.As(err, &oe) || !errors.Is(err, ErrInvalidOptions) {
				t.Fatalf("validate error %v is not an *OptionError matching ErrInvalidOptions", err)
			}
			if !optionFields[oe.Field] {
				t.Fatalf("OptionError names %q, which is not an Options field", oe.Field)
			}
			if !strings.HasPrefix(err.Error(), "mongosession: Options."+oe.Field+": ") {
				t.Fatalf("error %q does not start with the field's name", err)
			}
			if pw := uriPassword(uri); len(pw) >= 6 && strings.Contains(err.Error(), pw) {
				t.Fatalf("error %q quotes the URI's password", err)
			}
			return
		}
		switch {
		case c.Expires <= 0, c.Timeout <= 0, c.CleanupInterval <= 0, c.ExpireAfter < 0:
			t.Fatalf("validated durations not positive: %+v", c)
		case c.ExpiresKey == "" || c.ExpiresKey == "_id" || c.ExpiresKey == sessionField || strings.ContainsAny(c.ExpiresKey, ".$\x00"):
			t.Fatalf("validated ExpiresKey %q cannot be a top-level field", c.ExpiresKey)
		case c.Database == "" || strings.ContainsAny(c.Database, "/\\. \"*<>:|?\x00$"):
			t.Fatalf("validated Database %q is not a database name", c.Database)
		case c.Collection == "" || strings.HasPrefix(c.Collection, "$") || strings.ContainsRune(c.Collection, 0):
			t.Fatalf("validated Collection %q is not a collection name", c.Collection)
		case !utf8.ValidString(c.Database) || !utf8.ValidString(c.Collection) || !utf8.ValidString(c.ExpiresKey):
			t.Fatalf("validated names are not UTF-8")
		case c.Logger == nil:
			t.Fatal("no logger")
		case c.MigratePlainIDs && c.PlainIDs:
			t.Fatal("MigratePlainIDs accepted with PlainIDs")
		case c.EndedFor <= 0:
			t.Fatalf("validated EndedFor %v not positive", c.EndedFor)
		case c.AutoRemove != AutoRemoveTTL && c.AutoRemove != AutoRemoveInterval && c.AutoRemove != AutoRemoveOff:
			t.Fatalf("unknown AutoRemove %d accepted", c.AutoRemove)
		case c.ExpireAfter%time.Second != 0 || c.ExpireAfter/time.Second > 1<<31-1:
			t.Fatalf("ExpireAfter %v cannot be expireAfterSeconds", c.ExpireAfter)
		}
		for _, k := range c.EncryptionKeys {
			if len(k) != 32 {
				t.Fatalf("a %d-byte key was accepted", len(k))
			}
		}
		if _, err := newCipherSet(c.EncryptionKeys); err != nil {
			t.Fatalf("validated keys do not make a cipher: %v", err)
		}
	})
}

// uriPassword returns the password of a mongodb:// or mongodb+srv:// URI's
// user information, or "".
func uriPassword(uri string) string {
	rest, ok := strings.CutPrefix(uri, "mongodb://")
	if !ok {
		if rest, ok = strings.CutPrefix(uri, "mongodb+srv://"); !ok {
			return ""
		}
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return ""
	}
	_, pw, ok := strings.Cut(rest[:at], ":")
	if !ok {
		return ""
	}
	return pw
}
