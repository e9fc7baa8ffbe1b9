package nodesession

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// Outputs of String(x) in Node 20.
func TestJSNumber(t *testing.T) {
	cases := map[float64]string{
		0: "0", math.Copysign(0, -1): "0", 1: "1", -1: "-1", 42: "42", 0.1: "0.1", 1e-7: "1e-7",
		1.5e-7: "1.5e-7", 123456789012345680000: "123456789012345680000", 1e21: "1e+21",
		1.2345e21: "1.2345e+21", 1<<53 - 1: "9007199254740991", -0.5: "-0.5",
		3.141592653589793: "3.141592653589793", 5e-324: "5e-324",
		1.7976931348623157e308: "1.7976931348623157e+308", 0.000001: "0.000001",
		0.0000015: "0.0000015", 100: "100", 1e20: "100000000000000000000",
	}
	for f, want := range cases {
		if got := jsNumber(f); got != want {
			t.Errorf("jsNumber(%v) = %q, want %q", f, got, want)
		}
	}
}

func TestNormalizeRefuses(t *testing.T) {
	for _, v := range []any{math.NaN(), math.Inf(1), int64(1 << 53), uint64(1 << 60), map[int]int{1: 1}, make(chan int), func() {}} {
		if _, err := normalize(v); !errors.Is(err, ErrValue) {
			t.Errorf("normalize(%T) = %v, want ErrValue", v, err)
		}
	}
	type user struct {
		Name string `json:"name"`
		Age  int    `json:"age"`
	}
	got, err := normalize(map[string]any{"u": user{"a", 3}, "l": []string{"x"}, "t": time.Unix(1, 1500000).In(time.FixedZone("x", 3600))})
	if err != nil {
		t.Fatal(err)
	}
	m := got.(map[string]any)
	if u := m["u"].(map[string]any); u["name"] != "a" || u["age"] != 3.0 {
		t.Errorf("struct normalized to %v", u)
	}
	if tm := m["t"].(time.Time); !tm.Equal(time.Unix(1, 1000000)) || tm.Location() != time.UTC {
		t.Errorf("time normalized to %v, want millisecond precision in UTC", tm)
	}
}

// js-bson writes integral numbers in int32 range as Int32, others as Double.
func TestToBSONNumbers(t *testing.T) {
	cases := []struct {
		in   float64
		want bson.Type
	}{{1, bson.TypeInt32}, {-2147483648, bson.TypeInt32}, {2147483648, bson.TypeDouble}, {1.5, bson.TypeDouble}, {1 << 53, bson.TypeDouble}}
	for _, c := range cases {
		typ, _, err := bson.MarshalValue(toBSON(c.in))
		if err != nil {
			t.Fatal(err)
		}
		if typ != c.want {
			t.Errorf("%v stored as %s, want %s", c.in, typ, c.want)
		}
	}
}

func TestJSONObjectRoundTrip(t *testing.T) {
	in := `{"cookie":{"originalMaxAge":1,"expires":"2026-01-01T00:00:00.000Z"},"a":1.0e2,"b":"\u00e9","a":[1 ,2]}`
	ms, err := parseJSONObject([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	// The duplicate "a" keeps its first position and its last value, as JSON.parse.
	if got := string(appendJSONObject(nil, ms)); got != `{"cookie":{"originalMaxAge":1,"expires":"2026-01-01T00:00:00.000Z"},"a":[1 ,2],"b":"\u00e9"}` {
		t.Errorf("round trip gave %s", got)
	}
	for _, bad := range []string{``, `[]`, `{"a":1}x`, `{"a":}`, `"s"`} {
		if _, err := parseJSONObject([]byte(bad)); err == nil {
			t.Errorf("parseJSONObject(%q) accepted it", bad)
		}
	}
}

func TestLooksKruptein(t *testing.T) {
	// The first 200 characters of a kruptein 3.0.8 ciphertext: the DER
	// length no longer matches. (TestLegacyKrupteinRefused checks whole ones.)
	k3 := "MIIBaQQQUjBBTE5IVUVFSW5VZHlrPQRYUFZ3d1U5Q1BWWG9VaEpnWGUxV2dZdzZIZUVSaElhcUt1Uy9KOU03dkhnOHBKaUY5TFM3cG9yVUkzbVpFYWJtdllHRGx3bEIrZ0I0Y1FRUHVhUko5TGc9PQQMufh9z5iJ4Pq1dzfJBIGAwycSn1jHccLQLvt6VruP75lLx5Eb"
	if looksKruptein(k3) {
		t.Error("a truncated DER blob passed the length check")
	}
	if !looksKruptein(`{"hmac":"x","ct":"y","iv":"z","at":"w"}`) {
		t.Error("kruptein JSON form not recognized")
	}
	if looksKruptein(`{"cookie":{}}`) || looksKruptein("aGVsbG8=") {
		t.Error("a plain session or base64 text looks like kruptein")
	}
}

func TestWebCryptoRoundTrip(t *testing.T) {
	for _, enc := range []string{"base64", "base64url", "hex"} {
		c, err := (&WebCrypto{Secret: "s", Iterations: 1000, Encoding: enc}).build()
		if err != nil {
			t.Fatal(err)
		}
		ct, err := c.encrypt([]byte(`{"a":1}`))
		if err != nil {
			t.Fatal(err)
		}
		pt, err := c.decrypt(ct)
		if err != nil || string(pt) != `{"a":1}` {
			t.Fatalf("%s: decrypt gave %q, %v", enc, pt, err)
		}
		other, _ := (&WebCrypto{Secret: "t", Iterations: 1000, Encoding: enc}).build()
		if _, err := other.decrypt(ct); err == nil {
			t.Fatalf("%s: decrypted with the wrong secret", enc)
		}
		if _, err := c.decrypt("!!!"); err == nil {
			t.Fatalf("%s: decrypted garbage", enc)
		}
	}
}

// uuidText is a [16]byte UUID with MarshalText, as github.com/google/uuid's.
type uuidText [16]byte

func (u uuidText) MarshalText() ([]byte, error) {
	h := hex.EncodeToString(u[:])
	return []byte(h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]), nil
}

// pointerJSON has MarshalJSON on its pointer only.
type pointerJSON struct{ n int }

func (p *pointerJSON) MarshalJSON() ([]byte, error) {
	return []byte(`{"p":` + strconv.Itoa(p.n) + `}`), nil
}

type panicky struct{}

func (panicky) MarshalJSON() ([]byte, error) { panic("boom") }

// driverValues are the driver's BSON types a session value can hold, with
// what JSON.stringify writes for the js-bson value Node reads for each.
func driverValues() []struct {
	name string
	v    any
	json string
	js   string // the js-bson 6 expression, for the check against Node
} {
	oid := bson.ObjectID{0x65, 0x5b, 0x1a, 0x2c, 0x3d, 0x4e, 0x5f, 0x60, 0x71, 0x82, 0x93, 0xa4}
	dec, _ := bson.ParseDecimal128("1234.5600")
	uuid := []byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}
	return []struct {
		name string
		v    any
		json string
		js   string
	}{
		{"oid", oid, `"655b1a2c3d4e5f60718293a4"`, `new b.ObjectId("655b1a2c3d4e5f60718293a4")`},
		{"dec", dec, `{"$numberDecimal":"1234.5600"}`, `b.Decimal128.fromString("1234.5600")`},
		{"decexp", func() any { d, _ := bson.ParseDecimal128("-1E+40"); return d }(), `{"$numberDecimal":"-1E+40"}`, `b.Decimal128.fromString("-1E+40")`},
		{"bin", bson.Binary{Data: []byte("hi\x00\xff")}, `"aGkA/w=="`, `new b.Binary(Buffer.from([104,105,0,255]))`},
		{"uuid", bson.Binary{Subtype: 4, Data: uuid}, `"12345678-9abc-def0-0123-456789abcdef"`, `new b.UUID("12345678-9abc-def0-0123-456789abcdef")`},
		{"ts", bson.Timestamp{T: 1700000000, I: 3}, `{"$timestamp":"7301444403200000003"}`, `new b.Timestamp({t: 1700000000, i: 3})`},
		{"code", bson.JavaScript("f()"), `{"code":"f()"}`, `new b.Code("f()")`},
		{"codews", bson.CodeWithScope{Code: "f()", Scope: map[string]any{"x": 1.0}}, `{"code":"f()","scope":{"x":1}}`, `new b.Code("f()", {x: 1})`},
		{"sym", bson.Symbol("s"), `"s"`, `new b.BSONSymbol("s")`},
		{"dbp", bson.DBPointer{DB: "app.users", Pointer: oid}, `{"$db":"app","$id":"655b1a2c3d4e5f60718293a4","$ref":"users"}`, `new b.DBRef("app.users", new b.ObjectId("655b1a2c3d4e5f60718293a4"))`},
		{"dbp1", bson.DBPointer{DB: "users", Pointer: oid}, `{"$id":"655b1a2c3d4e5f60718293a4","$ref":"users"}`, `new b.DBRef("users", new b.ObjectId("655b1a2c3d4e5f60718293a4"))`},
		{"min", bson.MinKey{}, `{}`, `new b.MinKey()`},
		{"max", bson.MaxKey{}, `{}`, `new b.MaxKey()`},
	}
}

// TestNormalizeDriverTypes: the driver's BSON types are kept as they are
// (Set(Get(k)) stores what was read), and marshalers are what they marshal
// to, never arrays of numbers.
func TestNormalizeDriverTypes(t *testing.T) {
	for _, c := range driverValues() {
		got, err := normalize(c.v)
		if err != nil {
			t.Errorf("normalize(%s) = %v", c.name, err)
			continue
		}
		if !reflect.DeepEqual(got, c.v) {
			t.Errorf("normalize(%s) = %#v, want it unchanged", c.name, got)
		}
	}
	oid := bson.NewObjectID()
	when := time.UnixMilli(1700000000123).UTC()
	cases := []struct {
		in, want any
	}{
		{&oid, oid},
		{map[string]any{"user": map[string]any{"_id": oid}}, map[string]any{"user": map[string]any{"_id": oid}}},
		{bson.M{"_id": oid}, map[string]any{"_id": oid}},
		{bson.D{{Key: "_id", Value: oid}, {Key: "n", Value: int32(1)}}, map[string]any{"_id": oid, "n": 1.0}},
		{bson.A{oid}, []any{oid}},
		{bson.NewDateTimeFromTime(when), when},
		{bson.Null{}, nil},
		{bson.Undefined{}, nil},
		{uuidText{0x12, 0x34}, "12340000-0000-0000-0000-000000000000"},
		{[]uuidText{{}}, []any{"00000000-0000-0000-0000-000000000000"}},
		{json.RawMessage(`{"a":[1]}`), map[string]any{"a": []any{1.0}}},
		{&pointerJSON{3}, map[string]any{"p": 3.0}},
		{(*pointerJSON)(nil), nil},
		{bson.NewVector([]float32{1}), bson.NewVector([]float32{1}).Binary()},
		{mustRaw(t, bson.D{{Key: "_id", Value: oid}}), map[string]any{"_id": oid}},
	}
	for _, c := range cases {
		got, err := normalize(c.in)
		if err != nil {
			t.Errorf("normalize(%#v) = %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("normalize(%#v) = %#v, want %#v", c.in, got, c.want)
		}
	}
	for _, bad := range []any{panicky{}, bson.Regex{Pattern: "a\x00"}, bson.Regex{Pattern: "(?i)abc"}, map[string]any{"re": bson.Regex{Pattern: "^a"}}, bson.CodeWithScope{Code: "x", Scope: 1}, bson.Raw{1, 2}, bson.Vector{}} {
		if _, err := normalize(bad); !errors.Is(err, ErrValue) {
			t.Errorf("normalize(%#v) = %v, want ErrValue", bad, err)
		}
	}
	// Get's copy of a binary does not share its bytes with the session.
	b := bson.Binary{Data: []byte{1}}
	c := clone(b).(bson.Binary)
	c.Data[0] = 2
	if b.Data[0] != 1 {
		t.Error("clone shares a Binary's bytes")
	}
}

func mustRaw(t *testing.T, d bson.D) bson.Raw {
	b, err := bson.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDriverJSON: in a JSON-string session a driver value is written as
// JSON.stringify writes the js-bson value, checked against Node when it is
// installed.
func TestDriverJSON(t *testing.T) {
	vals := driverValues()
	for _, c := range vals {
		if got := string(appendJSON(nil, c.v)); got != c.json {
			t.Errorf("appendJSON(%s) = %s, want %s", c.name, got, c.json)
		}
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: JSON.stringify not checked against Node")
	}
	dir, _ := filepath.Abs(filepath.Join("testdata", "node"))
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "bson", "package.json")); err != nil {
		t.Skip("the bson package is not installed in testdata/node: run .ci/setup-node")
	}
	var js strings.Builder
	js.WriteString("const b = require('bson'); const out = {};\n")
	for _, c := range vals {
		fmt.Fprintf(&js, "out[%q] = JSON.stringify(%s);\n", c.name, c.js)
	}
	js.WriteString("console.log(JSON.stringify(out));\n")
	cmd := exec.Command(node, "-e", js.String())
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	var fromNode map[string]string
	if err := json.Unmarshal(out, &fromNode); err != nil {
		t.Fatalf("node said %s: %v", out, err)
	}
	for _, c := range vals {
		var a, b any
		_ = json.Unmarshal([]byte(fromNode[c.name]), &a)
		_ = json.Unmarshal([]byte(c.json), &b)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: Node's JSON.stringify gives %s, Go writes %s", c.name, fromNode[c.name], c.json)
		}
	}
}
