package nodesession

// Fuzz targets for what the Node-compatible manager reads from outside:
// the Express and Koa signed cookies, the stored session (a JSON string or
// a BSON document) and connect-mongo's WebCrypto envelope. They need no
// server. The seed corpora under testdata/fuzz/<FuzzName>/ (and the f.Add
// seeds) run with every go test; explore further with, one target at a
// time:
//
//	MONGODB_URI=mongodb://127.0.0.1:1 go test -run '^$' -fuzz '^FuzzExpressCookie$' -fuzztime 3m ./nodesession
//
// (MONGODB_URI keeps TestMain from starting a test server in every fuzz
// worker: these targets never connect.)

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// The secrets the fuzzed managers are configured with, newest first, and
// one they are not.
var (
	fuzzSecrets = []string{"newest secret", "older secret"}
	fuzzRetired = "retired secret"
)

// fuzzSIDs are the session ids the seeds sign.
var fuzzSIDs = []string{"abcDEF123_-abcDEF123_-ab", "sid with space", "é", "a.b.c", "x", "%41"}

// readFuzzSID runs a scheme's readSID on a request whose Cookie headers
// are header's lines.
func readFuzzSID(t *testing.T, c scheme, header string) (string, int, bool) {
	t.Helper()
	r := httptest.NewRequest("GET", "/", nil)
	for _, line := range strings.Split(header, "\n") {
		r.Header.Add("Cookie", line)
	}
	return c.readSID(r)
}

// FuzzExpressCookie gives arbitrary Cookie headers to express-session's
// cookie parsing and cookie-signature verification: never a panic; a
// verified id is always one a configured secret signed (the secret at the
// index reported), never one signed with another secret or not at all.
func FuzzExpressCookie(f *testing.F) {
	spec, err := ExpressCookie{Secrets: fuzzSecrets}.scheme()
	if err != nil {
		f.Fatal(err)
	}
	signedBy := map[string]map[int]bool{}
	for _, sid := range fuzzSIDs {
		for i, secret := range append(append([]string(nil), fuzzSecrets...), fuzzRetired) {
			v := "s:" + sid + "." + expressSig([]byte(secret), sid)
			if i < len(fuzzSecrets) {
				if signedBy[sid] == nil {
					signedBy[sid] = map[int]bool{}
				}
				signedBy[sid][i] = true
			}
			f.Add("connect.sid=" + encodeURIComponent(v))
			f.Add("connect.sid=" + v)
			f.Add(`a=1; connect.sid="` + encodeURIComponent(v) + `"; b=2`)
			f.Add("connect.sid=junk\nconnect.sid=" + encodeURIComponent(v))
			f.Add(" \tconnect.sid = " + encodeURIComponent(v[:len(v)-1]) + " ")
		}
	}
	for _, h := range []string{"", "connect.sid", "connect.sid=", `connect.sid="`, "connect.sid=s:", "connect.sid=s:.", "connect.sid=s:%ZZ.x",
		"=;=;connect.sid=s:a.b", ";;;", "connect.sid=%C3%28", "x=1;connect.sid=s:a.b;connect.sid=s:c.d"} {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, header string) {
		sid, idx, ok := readFuzzSID(t, spec, header)
		if !ok {
			if sid != "" || idx != 0 {
				t.Fatalf("readSID refused %q but returned %q, %d", header, sid, idx)
			}
			return
		}
		if !signedBy[sid][idx] {
			t.Fatalf("readSID(%q) verified sid %q with secret %d, which never signed it", header, sid, idx)
		}
		// Re-check independently of the parser: the header holds the
		// signature of sid by that secret.
		sig := expressSig([]byte(fuzzSecrets[idx]), sid)
		found := false
		for _, piece := range strings.FieldsFunc(header, func(r rune) bool { return r == ';' || r == '\n' }) {
			found = found || strings.Contains(tryDecode(piece), sig)
		}
		if !found {
			t.Fatalf("readSID(%q) verified %q without its signature in the header", header, sid)
		}
	})
}

// FuzzKoaCookie gives arbitrary Cookie headers to Koa's cookie parsing and
// keygrip verification (name and name.sig): never a panic; a verified id is
// always one a configured key signed under this cookie name.
func FuzzKoaCookie(f *testing.F) {
	spec, err := KoaCookie{Keys: fuzzSecrets}.scheme()
	if err != nil {
		f.Fatal(err)
	}
	signedBy := map[string]map[int]bool{}
	for _, sid := range fuzzSIDs {
		for i, key := range append(append([]string(nil), fuzzSecrets...), fuzzRetired) {
			sig := keygripSign([]byte(key), "koa.sid="+sid)
			if i < len(fuzzSecrets) {
				if signedBy[sid] == nil {
					signedBy[sid] = map[int]bool{}
				}
				signedBy[sid][i] = true
			}
			f.Add("koa.sid=" + sid + "; koa.sid.sig=" + sig)
			f.Add("koa.sid.sig=" + sig + ";koa.sid=" + sid)
			f.Add(`koa.sid="` + sid + `"; koa.sid.sig="` + sig + `"`)
			f.Add("x=1\nkoa.sid=" + sid + "\nkoa.sid.sig=" + sig)
			f.Add("koa.sid=" + sid + "; koa.sid.sig=" + sig[:len(sig)-1])
			f.Add("other=" + sid + "; other.sig=" + keygripSign([]byte(key), "other="+sid))
		}
	}
	for _, h := range []string{"", "koa.sid=", "koa.sid=\"", "koa.sid=x; koa.sid.sig=", "koa.sid.sig=x", ";koa.sid=;koa.sid.sig=;", "  koa.sid=a;koa.sid.sig=b"} {
		f.Add(h)
	}
	f.Fuzz(func(t *testing.T, header string) {
		sid, idx, ok := readFuzzSID(t, spec, header)
		if !ok {
			if sid != "" || idx != 0 {
				t.Fatalf("readSID refused %q but returned %q, %d", header, sid, idx)
			}
			return
		}
		if !signedBy[sid][idx] {
			t.Fatalf("readSID(%q) verified sid %q with key %d, which never signed it", header, sid, idx)
		}
		if sig := keygripSign([]byte(fuzzSecrets[idx]), "koa.sid="+sid); !strings.Contains(header, sig) {
			t.Fatalf("readSID(%q) verified %q without its signature in the header", header, sid)
		}
	})
}

// fuzzCipher is a WebCrypto cipher with few PBKDF2 iterations, so that
// each fuzz worker builds it quickly.
func fuzzCipher(tb testing.TB, secret, encoding string, ivLen int) *webCipher {
	tb.Helper()
	c, err := (&WebCrypto{Secret: secret, Iterations: 1000, Encoding: encoding, IVLength: ivLen}).build()
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// sealFixed is webCipher.encrypt with an IV made from n instead of a
// random one: the same text in every fuzz worker.
func sealFixed(c *webCipher, n byte, plain string) string {
	iv := make([]byte, c.ivLen)
	for i := range iv {
		iv[i] = n
	}
	return c.encode(c.aead.Seal(iv, iv, []byte(plain), nil))
}

// fuzzPlaintexts are the only texts the fuzzed ciphers ever sealed.
var fuzzPlaintexts = []string{`{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"},"user":"alice"}`, `{}`, ``, `not json`}

// FuzzWebCrypto gives arbitrary stored strings to connect-mongo's
// WebCrypto envelope decoding (base64, base64url and hex, 12- and 16-byte
// IVs): never a panic; nothing decrypts but what a cipher with the same
// secret sealed (a forgery of AES-GCM would be a finding worth more than
// this test); a cipher with another secret never decrypts it; the error
// for junk is ErrLegacyEncryption only for what looks like kruptein.
func FuzzWebCrypto(f *testing.F) {
	type pair struct{ mine, other *webCipher }
	var ciphers []pair
	for _, enc := range []string{"base64", "base64url", "hex"} {
		for _, iv := range []int{12, 16} {
			p := pair{fuzzCipher(f, "secret", enc, iv), fuzzCipher(f, "another secret", enc, iv)}
			ciphers = append(ciphers, p)
			for n, plain := range fuzzPlaintexts {
				f.Add(sealFixed(p.mine, byte(n), plain))
				f.Add(sealFixed(p.other, byte(n), plain))
			}
		}
	}
	for _, s := range []string{"", "=", "==", "!!!", "AAAA", "00", `{"hmac":"x","ct":"y","iv":"z","at":"w"}`, `{"ct":1,"iv":2}`, "MAMEAQA=", "MIIBaQQQ", "{", strings.Repeat("A", 64)} {
		f.Add(s)
	}
	known := map[string]bool{}
	for _, p := range fuzzPlaintexts {
		known[p] = true
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, p := range ciphers {
			plain, err := p.mine.decrypt(s)
			if err == nil && !known[string(plain)] {
				t.Fatalf("decrypt(%q) = %q, which no cipher sealed", s, plain)
			}
			if err != nil && plain != nil {
				t.Fatalf("decrypt(%q) returned plaintext with error %v", s, err)
			}
			if err == ErrLegacyEncryption && !looksKruptein(s) {
				t.Fatalf("decrypt(%q) = ErrLegacyEncryption for what does not look like kruptein", s)
			}
			if err == nil {
				// The other cipher's key is different: what the first
				// opens, it cannot.
				if _, err := p.other.decrypt(s); err == nil {
					t.Fatalf("ciphers with different secrets both decrypt %q", s)
				}
			}
		}
	})
}

// fuzzManagers are managers over every layout, without a store: decode
// needs none.
func fuzzManagers(tb testing.TB) map[string]*Manager {
	tb.Helper()
	ms := map[string]*Manager{}
	for name, l := range map[string]Layout{
		"cms":       ConnectMongoDBSession{},
		"cm":        ConnectMongo{},
		"cm-doc":    ConnectMongo{DisableStringify: true},
		"cm-crypto": ConnectMongo{Crypto: &WebCrypto{Secret: "secret", Iterations: 1000}},
		"koa":       KoaGenericSession{},
	} {
		var ck CookieScheme = ExpressCookie{Secrets: fuzzSecrets}
		if _, koa := l.(KoaGenericSession); koa {
			ck = KoaCookie{Keys: fuzzSecrets}
		}
		sc, err := ck.scheme()
		if err != nil {
			tb.Fatal(err)
		}
		ly, err := l.layout(sc)
		if err != nil {
			tb.Fatal(err)
		}
		ms[name] = &Manager{ck: sc, ly: ly, now: time.Now}
	}
	return ms
}

// sameCanonical compares canonical values; NaN equals NaN here, and
// values the driver writes as the same BSON are the same (it sorts a
// regular expression's options, as the BSON specification asks).
func sameCanonical(a, b any) bool {
	if reflect.DeepEqual(a, b) || fmt.Sprintf("%#v", a) == fmt.Sprintf("%#v", b) {
		return true
	}
	ta, da, erra := bson.MarshalValue(toBSON(a))
	tb, db, errb := bson.MarshalValue(toBSON(b))
	return erra == nil && errb == nil && ta == tb && bytes.Equal(da, db)
}

// checkDecoded decodes raw with m and checks what a decoded session holds:
// decode's recover never fires (a recovered panic is still a bug), every
// value key is a member of the stored session other than "cookie", and a
// session written back as the manager writes it decodes to the same values.
func checkDecoded(t *testing.T, name string, m *Manager, raw bson.Raw) {
	t.Helper()
	s := newSession(m)
	err := m.decode(s, raw)
	if err != nil {
		if strings.HasPrefix(err.Error(), "malformed document:") {
			t.Fatalf("%s: decode panicked (recovered): %v", name, err)
		}
		return
	}
	// Every key is listed once and has its value (a field repeated in a
	// stored BSON session keeps its last value, as in Node).
	seen := map[string]bool{}
	for _, k := range s.order {
		if _, ok := s.vals[k]; !ok {
			t.Fatalf("%s: key %q without a value", name, k)
		}
		if seen[k] {
			t.Fatalf("%s: key %q listed twice", name, k)
		}
		seen[k] = true
	}
	if len(seen) != len(s.vals) {
		t.Fatalf("%s: %d keys in order, %d values", name, len(seen), len(s.vals))
	}
	if _, ok := s.vals["cookie"]; ok {
		t.Fatalf("%s: the stored cookie became a value", name)
	}
	// Written back (as Save's insert does for every key) and read again.
	for _, k := range s.order {
		s.changed[k] = true
	}
	if _, isJSON := m.ly.codec.(jsonCodec); isJSON {
		if text := sessionJSON(s); !json.Valid(text) {
			t.Fatalf("%s: sessionJSON wrote invalid JSON %q", name, text)
		}
	}
	stored, err := m.ly.codec.value(m, s)
	if err != nil {
		t.Fatal(err)
	}
	back, err := bson.Marshal(bson.D{{Key: "session", Value: stored}})
	if err != nil {
		// A key the driver refuses to write (a NUL in a BSON key, say)
		// is the save's error, not the load's.
		return
	}
	s2 := newSession(m)
	if err := m.decode(s2, back); err != nil {
		t.Fatalf("%s: the session written back does not decode: %v", name, err)
	}
	for _, k := range s.order {
		if !sameCanonical(s.vals[k], s2.vals[k]) {
			t.Fatalf("%s: key %q read %#v, written back and read again %#v", name, k, s.vals[k], s2.vals[k])
		}
	}
}

// FuzzSessionDocument feeds arbitrary BSON documents to Manager.decode,
// which Load runs on what it finds in MongoDB, under every layout (the
// session as a document, a JSON string, a WebCrypto envelope): never a
// panic, not even one decode recovers from; a decoded session writes back
// to the same values (see checkDecoded).
func FuzzSessionDocument(f *testing.F) {
	ms := fuzzManagers(f)
	later := bson.NewDateTimeFromTime(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	cookie := bson.D{{Key: "originalMaxAge", Value: nil}, {Key: "expires", Value: later}, {Key: "httpOnly", Value: true}, {Key: "path", Value: "/"}}
	sealed := sealFixed(ms["cm-crypto"].ly.codec.(jsonCodec).cipher, 1, fuzzPlaintexts[0])
	for _, sv := range []any{
		bson.D{{Key: "cookie", Value: cookie}, {Key: "user", Value: "alice"}, {Key: "n", Value: int32(3)}, {Key: "f", Value: 1.5}},
		bson.D{{Key: "cookie", Value: "not a doc"}, {Key: "a", Value: bson.A{int64(1), nil, bson.Undefined{}, bson.D{{Key: "b", Value: later}}}}},
		bson.D{{Key: "oid", Value: bson.NewObjectIDFromTimestamp(time.Unix(0, 0))}, {Key: "dec", Value: bson.NewDecimal128(1, 2)}, {Key: "bin", Value: bson.Binary{Data: []byte{1}}}},
		bson.D{{Key: "re", Value: bson.Regex{Pattern: "a", Options: "i"}}, {Key: "js", Value: bson.JavaScript("x")}, {Key: "ts", Value: bson.Timestamp{T: 1, I: 2}}, {Key: "min", Value: bson.MinKey{}}},
		fuzzPlaintexts[0],
		`{"cookie":{"originalMaxAge":1000,"expires":"2030-01-01T00:00:00.000Z"},"a":1e400,"b":[1,{"c":null}],"a":"dup"}`,
		`{"cookie":5,"x":-0}`,
		`[]`, `{"hmac":"x","ct":"y","iv":"z","at":"w"}`,
		sealed,
		int32(5), nil,
	} {
		b, err := bson.Marshal(bson.D{{Key: "_id", Value: "sid"}, {Key: "session", Value: sv}, {Key: "expires", Value: later}, {Key: "lastModified", Value: later}})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{5, 0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0x7f, 0x03, 's', 'e', 's', 's', 'i', 'o', 'n', 0, 5, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, doc []byte) {
		for name, m := range ms {
			checkDecoded(t, name, m, bson.Raw(doc))
		}
	})
}

// FuzzSessionJSON wraps arbitrary text as the stored session string of
// connect-mongo's default layout (stringify) and decodes it, and runs the
// JSON value conversions on it: never a panic; what decodes writes back to
// the same values; fromJSON and parseJSONObject agree on objects.
func FuzzSessionJSON(f *testing.F) {
	m := fuzzManagers(f)["cm"]
	for _, s := range []string{
		fuzzPlaintexts[0], `{}`, `{"cookie":null}`, `{"cookie":{"expires":"bad"},"v":[1,2,{"a":true}]}`,
		`{"a":1e400,"b":-1e-400,"c":9007199254740993,"d":"\ud800","e":"\u0000"}`, `{"a":{"a":{"a":{"a":[[[[[]]]]]}}}}`,
		`{"a":1}{"b":2}`, `{"a":1} `, ` {"a":1}`, `{"__proto__":{"x":1},"constructor":2,"$where":3,"a.b":4}`,
		`{"cookie":{"originalMaxAge":"x","path":5,"secure":"yes","sameSite":true}}`, `[1]`, `"s"`, `null`, `{`, ``,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		raw, err := bson.Marshal(bson.D{{Key: "session", Value: text}})
		if err != nil {
			return // not UTF-8: the driver does not write it
		}
		checkDecoded(t, "cm", m, raw)

		v, err := fromJSON([]byte(text))
		if err != nil {
			return
		}
		obj, isObj := v.(map[string]any)
		ms, err := parseJSONObject([]byte(text))
		if err != nil {
			if isObj && json.Valid([]byte(text)) {
				t.Fatalf("fromJSON read an object from %q that parseJSONObject refuses: %v", text, err)
			}
			return
		}
		if !isObj {
			t.Fatalf("parseJSONObject accepted %q, which fromJSON reads as %T", text, v)
		}
		if len(ms) != len(obj) {
			t.Fatalf("parseJSONObject found %d members in %q, fromJSON %d", len(ms), text, len(obj))
		}
		for _, mem := range ms {
			mv, err := fromJSON(mem.raw)
			if err != nil || !sameCanonical(mv, obj[mem.key]) {
				t.Fatalf("member %q of %q: %#v (%v) alone, %#v in the object", mem.key, text, mv, err, obj[mem.key])
			}
		}
		if again := appendJSONObject(nil, ms); !json.Valid(again) {
			t.Fatalf("appendJSONObject wrote invalid JSON %q from %q", again, text)
		}
	})
}
