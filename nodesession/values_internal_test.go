package nodesession

import (
	"errors"
	"math"
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
