package gorillastore

// Fuzz targets for what the gorilla face reads from outside: the record
// stored in MongoDB (header and serialized values) and the session cookie.
// They need no server. The seed corpora under testdata/fuzz/<FuzzName>/
// (and the f.Add seeds) run with every go test; explore further with, one
// target at a time:
//
//	MONGODB_URI=mongodb://127.0.0.1:1 go test -run '^$' -fuzz '^FuzzRecord$' -fuzztime 3m .
//
// (MONGODB_URI keeps TestMain from starting a test server in every fuzz
// worker: these targets never connect.)

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"fmt"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"
)

// maxFuzzRecord bounds the records FuzzRecord decodes. Gob allocates in
// proportion to the sizes its input claims, not to the input's length, so
// the bound alone does not keep a worker's memory down: see gobHugeCount.
const maxFuzzRecord = 64 << 10

// gobHugeCount reports whether b holds a multi-byte gob unsigned integer
// (a byte 0xF8..0xFF giving the count of big-endian bytes that follow)
// above 1<<16, at any offset. encoding/gob passes a map's element count
// straight to reflect.MakeMapWithSize (golang/go#79539, not fixed in the
// Go release this module builds with), so a record of a few dozen bytes
// claiming a map of 2^28 entries makes the decoder allocate and touch
// tens of gigabytes: the fuzz worker would be killed for memory instead of
// exploring. FuzzRecord does not gob-decode such input. The test is
// coarse: large integers and most floats are multi-byte too, so values
// holding them are not gob-decoded by the fuzzer either.
func gobHugeCount(b []byte) bool {
	for i, c := range b {
		if c < 0xF8 {
			continue
		}
		n := 256 - int(c)
		if n > 8 || i+1+n > len(b) {
			continue
		}
		var u uint64
		for _, d := range b[i+1 : i+1+n] {
			u = u<<8 | uint64(d)
		}
		if u > 1<<16 {
			return true
		}
	}
	return false
}

// gobMapBomb is a gorillastore record whose gob payload claims a map of
// 2^28 entries in 44 bytes: decoding it allocates about 19 GiB with Go
// 1.26 (see gobHugeCount).
func gobMapBomb() []byte {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(map[interface{}]interface{}{"a": "b"}); err != nil {
		panic(err)
	}
	p := buf.Bytes()
	// The value message: length, type id (ff 80), 00, then the map's
	// count, 01. Give it a 5-byte count instead.
	i := bytes.Index(p, []byte{0xff, 0x80, 0x00, 0x01})
	if i < 1 {
		panic("gob layout changed")
	}
	var out []byte
	out = append(out, p[:i-1]...)
	out = append(out, p[i-1]+4)
	out = append(out, 0xff, 0x80, 0x00, 0xFB, 0x00, 0x10, 0x00, 0x00, 0x00)
	out = append(out, p[i+4:]...)
	return formatRecord(record{written: time.UnixMilli(0), payload: out})
}

func TestGobHugeCount(t *testing.T) {
	if !gobHugeCount(gobMapBomb()) {
		t.Fatal("gobHugeCount misses the map bomb")
	}
	rec, err := GobSerializer{}.Serialize(&sessions.Session{Values: map[interface{}]interface{}{"user": "alice", "n": 42, "ok": true}})
	if err != nil {
		t.Fatal(err)
	}
	if gobHugeCount(rec) {
		t.Fatal("gobHugeCount refuses an ordinary session")
	}
}

// sameSessionValues reports whether a and b hold the same session values; NaN
// equals NaN here, as a round trip must keep it.
func sameSessionValues(a, b map[interface{}]interface{}) bool {
	return reflect.DeepEqual(a, b) || fmt.Sprintf("%#v", a) == fmt.Sprintf("%#v", b)
}

// FuzzRecord feeds arbitrary bytes to the record decoding Store.New does
// on what it finds in MongoDB (parseRecord, then each serializer's
// Deserialize): never a panic; a record shorter than its header or of
// another version is an error; a parsed record formats back to the same
// bytes; values that decode encode again and decode to the same values.
func FuzzRecord(f *testing.F) {
	later := time.Date(2030, 1, 2, 3, 4, 5, 6e6, time.UTC)
	for _, vals := range []map[interface{}]interface{}{
		{},
		{"user": "alice", "views": 3, "admin": true},
		{"f": 1.5, "list": []string{"a", "b"}, "bytes": []byte{0, 1}, 7: "int key"},
		{"u": uint8(1), "ints": []int{-1, 2}, "tenth": 0.1, "big": int64(1) << 40},
	} {
		s := &sessions.Session{Values: vals}
		if p, err := (GobSerializer{}).Serialize(s); err == nil {
			f.Add(formatRecord(record{written: later, maxAge: 3600, payload: p}))
		} else {
			f.Fatal(err)
		}
		if p, err := (JSONSerializer{}).Serialize(s); err == nil {
			f.Add(formatRecord(record{written: later, maxAge: 0, payload: p}))
		}
	}
	f.Add([]byte{})
	f.Add([]byte{recordVersion})
	f.Add(formatRecord(record{written: later, maxAge: -1}))
	f.Add(append([]byte{2}, formatRecord(record{written: later, maxAge: 1, payload: []byte("{}")})[1:]...))
	f.Add(formatRecord(record{written: later, maxAge: 1, payload: []byte(`{"a":[[[[[[[[{"b":1e400}]]]]]]]]}`)}))
	f.Add(formatRecord(record{written: later, maxAge: 1, payload: []byte(`{"a":1,"a":"dup","\u0000":null}`)}))
	f.Add(gobMapBomb()) // not gob-decoded: see gobHugeCount

	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > maxFuzzRecord {
			return
		}
		rec, err := parseRecord(b)
		if err != nil {
			if len(b) >= recordHeaderLen && b[0] == recordVersion {
				t.Fatalf("parseRecord refused a well-formed header: %v", err)
			}
			return
		}
		if len(b) < recordHeaderLen || b[0] != recordVersion {
			t.Fatalf("parseRecord accepted %x", b)
		}
		if again := formatRecord(rec); !bytes.Equal(again, b) {
			t.Fatalf("formatRecord(parseRecord(%x)) = %x", b, again)
		}
		if rec.written.UnixMilli() != int64(binary.BigEndian.Uint64(b[1:9])) {
			t.Fatalf("written %v does not match the header", rec.written)
		}
		serializers := []Serializer{JSONSerializer{}}
		if !gobHugeCount(rec.payload) {
			serializers = append(serializers, GobSerializer{})
		}
		for _, ser := range serializers {
			s := sessions.NewSession(nil, "s")
			if err := ser.Deserialize(rec.payload, s); err != nil {
				continue
			}
			if s.Values == nil {
				t.Fatalf("%T left Values nil", ser)
			}
			p, err := ser.Serialize(s)
			if err != nil {
				// gob refuses to encode some values it decodes (a nil
				// interface inside a map, say); Save then reports it.
				continue
			}
			s2 := sessions.NewSession(nil, "s")
			if err := ser.Deserialize(p, s2); err != nil {
				t.Fatalf("%T: values it encoded do not decode: %v", ser, err)
			}
			if !sameSessionValues(s.Values, s2.Values) {
				t.Fatalf("%T round trip changed the values: %#v, then %#v", ser, s.Values, s2.Values)
			}
		}
	})
}

// Fixed keys, so that every fuzz worker process signs the same cookies.
var (
	fuzzHashKey  = bytes.Repeat([]byte{1}, 32)
	fuzzBlockKey = bytes.Repeat([]byte{2}, 32)
	fuzzOldKey   = bytes.Repeat([]byte{3}, 32)
)

// fuzzSignedIDs are the IDs the fuzz seeds carry in signed cookies.
var fuzzSignedIDs = []string{
	"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	"abcdefghijklmnopqrstuvwxyz0123456789-_ABCDE",
	"not-a-valid-id-but-signed",
}

// FuzzCookie sends arbitrary cookie values through Store.Get and Store.New
// on an httptest request, with and without key pairs: never a panic, never
// a nil session, and never a session with an ID (the store here has no
// database, so nothing is found); with key pairs, a cookie yields an ID
// only when it was signed with a configured key, and the ID is the one
// signed; without key pairs, only a well-formed ID is accepted.
func FuzzCookie(f *testing.F) {
	signed := New(nil, fuzzHashKey, fuzzBlockKey, fuzzOldKey, nil)
	old := New(nil, fuzzOldKey)
	bare := New(nil)
	for _, id := range fuzzSignedIDs {
		for _, st := range []*Store{signed, old} {
			v, err := securecookie.EncodeMulti("session", id, st.Codecs...)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(v, "session")
			f.Add(v, "other")
			f.Add(v[:len(v)-1], "session")
			f.Add(strings.ToUpper(v), "session")
		}
		f.Add(id, "session")
	}
	for _, v := range []string{"", `"quoted"`, "a;b=c", "%00", "\x00", "é", strings.Repeat("A", 4096), "MTIzfGFiY3w=", "||", "a|b|c"} {
		f.Add(v, "session")
	}
	f.Add("x", "")
	f.Add("x", "bad name")

	allowed := map[string]bool{}
	for _, id := range fuzzSignedIDs {
		allowed[id] = true
	}

	f.Fuzz(func(t *testing.T, value, name string) {
		for _, st := range []*Store{signed, old, bare} {
			id, ok := st.decodeCookie(name, value)
			switch {
			case len(st.Codecs) == 0:
				if ok != validID(value) || ok && id != value {
					t.Fatalf("bare decodeCookie(%q) = %q, %v", value, id, ok)
				}
			case ok && !allowed[id]:
				t.Fatalf("decodeCookie(%q, %q) accepted ID %q, which no seed signed", name, value, id)
			case !ok && id != "":
				t.Fatalf("decodeCookie refused %q but returned ID %q", value, id)
			}

			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("Cookie", name+"="+value)
			for _, get := range []func() (*sessions.Session, error){
				func() (*sessions.Session, error) { return st.New(r, name) },
				func() (*sessions.Session, error) { return st.Get(r, name) },
			} {
				s, err := get()
				if s == nil {
					t.Fatalf("nil session for cookie %q (err %v)", value, err)
				}
				if s.ID != "" || !s.IsNew || len(s.Values) != 0 {
					t.Fatalf("cookie %q gave session ID %q, IsNew %v, %d values, from a store with no database", value, s.ID, s.IsNew, len(s.Values))
				}
				if err != nil && len(value) >= 8 && !strings.Contains(name, value) && strings.Contains(err.Error(), value) {
					t.Fatalf("error %q quotes the cookie", err)
				}
			}
		}
	})
}
