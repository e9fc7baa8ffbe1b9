package nodesession

import (
	"bytes"
	"encoding"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"
)

// ErrValue is returned by Session.Set for a value a Node app could not read
// back exactly: NaN or an infinity, an integer beyond ±2^53 (JavaScript
// numbers are float64), a map with non-string keys, a channel or a
// function.
var ErrValue = errors.New("nodesession: value is not JSON-compatible")

// ErrKey is returned by Session.Set and Session.Delete for a key the
// session cannot hold, and by Set for such a key at any depth inside the
// value (an object's member, a map's key, a struct's JSON name), before
// anything is sent: "__proto__", "constructor" and "prototype" (a Node app
// that merges session data into an object would pollute its prototype), a
// key starting with '$' or holding '.' (MongoDB operators and paths), a
// NUL or invalid UTF-8; and at the top level also "" and "cookie"
// (express-session's and koa-generic-session's own). A value read from a
// session that holds such a key inside (JSON.stringify writes a
// Decimal128 as {"$numberDecimal": ...}) must be changed before it is Set
// again.
var ErrKey = errors.New("nodesession: invalid session key")

// checkKey is ErrKey's rule for a session's top-level key.
func checkKey(key string) error {
	if key == "" || key == "cookie" {
		return fmt.Errorf("%w: %q is the Node middleware's own", ErrKey, key)
	}
	return checkMemberKey(key)
}

// checkMemberKey is ErrKey's rule at every depth.
func checkMemberKey(key string) error {
	switch {
	case key == "__proto__" || key == "constructor" || key == "prototype":
		return fmt.Errorf("%w: %q, which JavaScript code merging the session takes for the object's prototype", ErrKey, key)
	case strings.HasPrefix(key, "$") || strings.Contains(key, "."):
		return fmt.Errorf("%w: %q starts with '$' or holds '.', which MongoDB reads as an operator or a path", ErrKey, key)
	case !utf8.ValidString(key) || strings.ContainsRune(key, 0):
		return fmt.Errorf("%w: %q is not UTF-8 text without NUL", ErrKey, key)
	}
	return nil
}

const maxSafeInteger = 1<<53 - 1

// jsISO formats t as JavaScript's Date.prototype.toISOString.
func jsISO(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// normalize converts v into the package's canonical form: nil, bool,
// float64, string, time.Time (millisecond precision, UTC), []any,
// map[string]any, and the driver's BSON types that Get can return
// (bson.ObjectID, bson.Decimal128, bson.Binary, bson.Timestamp,
// bson.JavaScript, bson.CodeWithScope, bson.Symbol, bson.DBPointer,
// bson.MinKey, bson.MaxKey), kept as they are so that a value read with
// Get can be Set back unchanged. A bson.Regex is refused (see
// normalizeDriver). Any other
// json.Marshaler or encoding.TextMarshaler goes through encoding/json.
func normalize(v any) (any, error) {
	return normalizeDepth(v, 0)
}

func normalizeDepth(v any, depth int) (any, error) {
	if depth > 100 {
		return nil, fmt.Errorf("%w: nested more than 100 levels", ErrValue)
	}
	if d, ok, err := normalizeDriver(v, depth); ok {
		return d, err
	}
	switch x := v.(type) {
	case nil:
		return nil, nil
	case bool, string:
		return x, nil
	case float64:
		return checkFloat(x)
	case float32:
		return checkFloat(float64(x))
	case int:
		return checkInt(int64(x))
	case int8:
		return float64(x), nil
	case int16:
		return float64(x), nil
	case int32:
		return float64(x), nil
	case int64:
		return checkInt(x)
	case uint8:
		return float64(x), nil
	case uint16:
		return float64(x), nil
	case uint32:
		return float64(x), nil
	case uint:
		if uint64(x) > maxSafeInteger {
			return nil, fmt.Errorf("%w: integer beyond 2^53", ErrValue)
		}
		return float64(x), nil
	case uint64:
		if x > maxSafeInteger {
			return nil, fmt.Errorf("%w: integer beyond 2^53", ErrValue)
		}
		return float64(x), nil
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrValue, err)
		}
		return checkFloat(f)
	case time.Time:
		return x.UTC().Truncate(time.Millisecond), nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			n, err := normalizeDepth(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if err := checkMemberKey(k); err != nil {
				return nil, err
			}
			n, err := normalizeDepth(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = n
		}
		return out, nil
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return nil, nil
		}
		if isMarshaler(v) && !isMarshaler(rv.Elem().Interface()) {
			// MarshalJSON or MarshalText on the pointer only.
			return viaJSON(v, depth)
		}
		return normalizeDepth(rv.Elem().Interface(), depth+1)
	}
	if isMarshaler(v) {
		// Before the Kind switch: a [16]byte UUID or a named slice with
		// MarshalText or MarshalJSON is what it marshals to, not an array
		// of numbers.
		return viaJSON(v, depth)
	}
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return nil, nil
		}
		out := make([]any, rv.Len())
		for i := range out {
			n, err := normalizeDepth(rv.Index(i).Interface(), depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			return nil, fmt.Errorf("%w: map keys must be strings", ErrValue)
		}
		if rv.IsNil() {
			return nil, nil
		}
		out := make(map[string]any, rv.Len())
		it := rv.MapRange()
		for it.Next() {
			if err := checkMemberKey(it.Key().String()); err != nil {
				return nil, err
			}
			n, err := normalizeDepth(it.Value().Interface(), depth+1)
			if err != nil {
				return nil, err
			}
			out[it.Key().String()] = n
		}
		return out, nil
	case reflect.Struct, reflect.Bool, reflect.String, reflect.Int, reflect.Int8, reflect.Int16,
		reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32,
		reflect.Uint64, reflect.Float32, reflect.Float64:
		// Named basic types and structs: through encoding/json, as a Node
		// app would see them after JSON.stringify.
		return viaJSON(v, depth)
	}
	return nil, fmt.Errorf("%w: %T", ErrValue, v)
}

func isMarshaler(v any) bool {
	switch v.(type) {
	case json.Marshaler, encoding.TextMarshaler:
		return true
	}
	return false
}

// viaJSON normalizes what encoding/json makes of v. A panicking
// MarshalJSON or MarshalText is an ErrValue, not a panic.
func viaJSON(v any, depth int) (out any, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("%w: marshaling %T panicked", ErrValue, v)
		}
	}()
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrValue, err)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&out); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrValue, err)
	}
	return normalizeDepth(out, depth+1)
}

// normalizeDriver handles the driver's BSON types; ok is false for any
// other value. Types Get returns are kept; the others become what Get
// would return after a reload (bson.DateTime a time.Time, bson.D and
// bson.Raw a map[string]any, bson.Vector its bson.Binary).
func normalizeDriver(v any, depth int) (out any, ok bool, err error) {
	switch x := v.(type) {
	case bson.ObjectID, bson.Decimal128, bson.Timestamp, bson.JavaScript, bson.Symbol,
		bson.DBPointer, bson.MinKey, bson.MaxKey:
		return x, true, nil
	case bson.Regex:
		// Node's driver compiles a stored BSON regex into a JavaScript
		// RegExp while reading the whole document: a pattern JavaScript
		// rejects ((?i)abc, idiomatic in Go) would make every Node read
		// of the session throw. Go cannot tell which patterns JavaScript
		// accepts, so none is written.
		return nil, true, fmt.Errorf("%w: a BSON regex, which Node compiles as a JavaScript RegExp when it reads the session (store the pattern as a string)", ErrValue)
	case bson.Binary:
		return bson.Binary{Subtype: x.Subtype, Data: bytes.Clone(x.Data)}, true, nil
	case bson.Vector:
		b, err := vectorBinary(x)
		return b, true, err
	case bson.CodeWithScope:
		sc, err := normalizeDepth(x.Scope, depth+1)
		if err != nil {
			return nil, true, err
		}
		if _, isDoc := sc.(map[string]any); !isDoc {
			return nil, true, fmt.Errorf("%w: CodeWithScope scope is not a document", ErrValue)
		}
		return bson.CodeWithScope{Code: x.Code, Scope: sc}, true, nil
	case bson.DateTime:
		t, err := normalizeDepth(x.Time(), depth+1)
		return t, true, err
	case bson.Null, bson.Undefined:
		return nil, true, nil
	case bson.D:
		if x == nil {
			return nil, true, nil
		}
		m := make(map[string]any, len(x))
		for _, e := range x {
			if err := checkMemberKey(e.Key); err != nil {
				return nil, true, err
			}
			n, err := normalizeDepth(e.Value, depth+1)
			if err != nil {
				return nil, true, err
			}
			m[e.Key] = n
		}
		return m, true, nil
	case bson.Raw:
		if x == nil {
			return nil, true, nil
		}
		return normalizeRaw(bson.RawValue{Type: bson.TypeEmbeddedDocument, Value: x}, depth)
	case bson.RawValue:
		return normalizeRaw(x, depth)
	}
	return nil, false, nil
}

// vectorBinary is x's binary form; the driver panics on a zero Vector.
func vectorBinary(x bson.Vector) (b bson.Binary, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: invalid bson.Vector", ErrValue)
		}
	}()
	b = x.Binary()
	return bson.Binary{Subtype: b.Subtype, Data: bytes.Clone(b.Data)}, nil
}

func normalizeRaw(rv bson.RawValue, depth int) (out any, ok bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("%w: malformed BSON", ErrValue)
		}
	}()
	if err := rv.Validate(); err != nil {
		return nil, true, fmt.Errorf("%w: %v", ErrValue, err)
	}
	v, err := fromBSON(rv)
	if err != nil {
		return nil, true, fmt.Errorf("%w: %v", ErrValue, err)
	}
	out, err = normalizeDepth(v, depth+1)
	return out, true, err
}

func checkFloat(f float64) (any, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("%w: NaN or infinity", ErrValue)
	}
	return f, nil
}

func checkInt(i int64) (any, error) {
	if i > maxSafeInteger || i < -maxSafeInteger {
		return nil, fmt.Errorf("%w: integer beyond 2^53", ErrValue)
	}
	return float64(i), nil
}

// clone deep-copies a canonical value.
func clone(v any) any {
	switch x := v.(type) {
	case bson.Binary:
		return bson.Binary{Subtype: x.Subtype, Data: bytes.Clone(x.Data)}
	case bson.CodeWithScope:
		return bson.CodeWithScope{Code: x.Code, Scope: clone(x.Scope)}
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = clone(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = clone(e)
		}
		return out
	}
	return v
}

// ---- BSON, as the Node driver (js-bson 6) writes and reads it ----

// toBSON converts a canonical value to what js-bson would write for the
// same JavaScript value: integral numbers in int32 range as Int32, other
// numbers as Double, dates as DateTime, objects with sorted keys.
func toBSON(v any) any {
	switch x := v.(type) {
	case float64:
		if x == math.Trunc(x) && x >= math.MinInt32 && x <= math.MaxInt32 {
			return int32(x)
		}
		return x
	case time.Time:
		return bson.NewDateTimeFromTime(x)
	case bson.CodeWithScope:
		return bson.CodeWithScope{Code: x.Code, Scope: toBSON(x.Scope)}
	case []any:
		a := make(bson.A, len(x))
		for i, e := range x {
			a[i] = toBSON(e)
		}
		return a
	case map[string]any:
		keys := sortedKeys(x)
		d := make(bson.D, 0, len(keys))
		for _, k := range keys {
			d = append(d, bson.E{Key: k, Value: toBSON(x[k])})
		}
		return d
	}
	return v
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// fromBSON converts a stored value to the canonical form as the Node driver
// would hand it to the app: every number as float64, DateTime as
// time.Time, null and undefined as nil. Other BSON types (ObjectId,
// Decimal128, binary, ...) are returned as the driver's Go types.
func fromBSON(rv bson.RawValue) (any, error) {
	switch rv.Type {
	case bson.TypeDouble:
		return rv.Double(), nil
	case bson.TypeInt32:
		return float64(rv.Int32()), nil
	case bson.TypeInt64:
		return float64(rv.Int64()), nil
	case bson.TypeString:
		return rv.StringValue(), nil
	case bson.TypeBoolean:
		return rv.Boolean(), nil
	case bson.TypeNull, bson.TypeUndefined:
		return nil, nil
	case bson.TypeDateTime:
		return time.UnixMilli(rv.DateTime()).UTC(), nil
	case bson.TypeEmbeddedDocument:
		els, err := rv.Document().Elements()
		if err != nil {
			return nil, err
		}
		m := make(map[string]any, len(els))
		for _, e := range els {
			v, err := fromBSON(e.Value())
			if err != nil {
				return nil, err
			}
			m[e.Key()] = v
		}
		return m, nil
	case bson.TypeCodeWithScope:
		code, scope := rv.CodeWithScope()
		sc, err := fromBSON(bson.RawValue{Type: bson.TypeEmbeddedDocument, Value: scope})
		if err != nil {
			return nil, err
		}
		return bson.CodeWithScope{Code: bson.JavaScript(code), Scope: sc}, nil
	case bson.TypeArray:
		vals, err := rv.Array().Values()
		if err != nil {
			return nil, err
		}
		a := make([]any, len(vals))
		for i, e := range vals {
			v, err := fromBSON(e)
			if err != nil {
				return nil, err
			}
			a[i] = v
		}
		return a, nil
	}
	var out any
	if err := rv.Unmarshal(&out); err != nil {
		return nil, err
	}
	return out, nil
}

// ---- JSON, as JSON.stringify writes and JSON.parse reads it ----

// jsNumber formats f as JavaScript's Number.prototype.toString.
func jsNumber(f float64) string {
	if f == 0 {
		return "0"
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±xx
	neg := s[0] == '-'
	if neg {
		s = s[1:]
	}
	mant, expPart, _ := strings.Cut(s, "e")
	exp, _ := strconv.Atoi(expPart)
	digits := strings.Replace(mant, ".", "", 1)
	k := len(digits)
	n := exp + 1 // position of the decimal point
	var out string
	switch {
	case k <= n && n <= 21:
		out = digits + strings.Repeat("0", n-k)
	case 0 < n && n <= 21:
		out = digits[:n] + "." + digits[n:]
	case -6 < n && n <= 0:
		out = "0." + strings.Repeat("0", -n) + digits
	default:
		e := n - 1
		sign := "+"
		if e < 0 {
			sign = "-"
			e = -e
		}
		out = digits[:1]
		if k > 1 {
			out += "." + digits[1:]
		}
		out += "e" + sign + strconv.Itoa(e)
	}
	if neg {
		return "-" + out
	}
	return out
}

// appendJSON appends v as JSON.stringify would write the same JavaScript
// value (dates as toISOString, numbers as Number#toString, object keys
// sorted since Go maps have no order).
func appendJSON(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		return strconv.AppendBool(b, x)
	case float64:
		return append(b, jsNumber(x)...)
	case string:
		return appendJSONString(b, x)
	case time.Time:
		return appendJSONString(b, jsISO(x))
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSON(b, e)
		}
		return append(b, ']')
	case map[string]any:
		b = append(b, '{')
		for i, k := range sortedKeys(x) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendJSON(b, x[k])
		}
		return append(b, '}')
	}
	if j, ok := driverJSON(v); ok {
		return appendJSON(b, j)
	}
	// Not a canonical value: normalize keeps these out; be safe.
	j, err := json.Marshal(v)
	if err != nil {
		return append(b, "null"...)
	}
	return append(b, j...)
}

// driverJSON is the canonical JSON-compatible value JSON.stringify makes
// of the js-bson 6 value the Node driver reads for a driver BSON type (its
// toJSON): ObjectId a hex string, UUID (binary subtype 4, 16 bytes) a
// dashed hex string, other binary base64, Decimal128 {$numberDecimal},
// Timestamp {$timestamp} (the 64-bit value in decimal), Code {code,
// scope?}, DBRef {$ref, $id, $db?}, a symbol its string, MinKey and
// MaxKey {}. (A regex never gets here: normalize refuses it.)
func driverJSON(v any) (any, bool) {
	switch x := v.(type) {
	case bson.ObjectID:
		return x.Hex(), true
	case bson.Decimal128:
		return map[string]any{"$numberDecimal": x.String()}, true
	case bson.Binary:
		if x.Subtype == bson.TypeBinaryUUID && len(x.Data) == 16 {
			h := hex.EncodeToString(x.Data)
			return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], true
		}
		return base64.StdEncoding.EncodeToString(x.Data), true
	case bson.Timestamp:
		return map[string]any{"$timestamp": strconv.FormatUint(uint64(x.T)<<32|uint64(x.I), 10)}, true
	case bson.JavaScript:
		return map[string]any{"code": string(x)}, true
	case bson.CodeWithScope:
		return map[string]any{"code": string(x.Code), "scope": x.Scope}, true
	case bson.Symbol:
		return string(x), true
	case bson.DBPointer:
		// js-bson reads a DBPointer as new DBRef(namespace, oid), which
		// splits "db.coll" (exactly one dot) into db and collection.
		m := map[string]any{"$ref": x.DB, "$id": x.Pointer.Hex()}
		if db, coll, ok := strings.Cut(x.DB, "."); ok && !strings.Contains(coll, ".") {
			m["$ref"], m["$db"] = coll, db
		}
		return m, true
	case bson.MinKey, bson.MaxKey:
		return map[string]any{}, true
	}
	return nil, false
}

func appendJSONString(b []byte, s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return append(b, bytes.TrimRight(buf.Bytes(), "\n")...)
}

// fromJSON decodes one JSON value into the canonical form (numbers as
// float64, strings stay strings: JSON.parse does not revive dates).
func fromJSON(raw []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return numbersToFloat(v), nil
}

func numbersToFloat(v any) any {
	switch x := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			// Out of range: JSON.parse gives ±Infinity; keep the text.
			return string(x)
		}
		return f
	case []any:
		for i, e := range x {
			x[i] = numbersToFloat(e)
		}
		return x
	case map[string]any:
		for k, e := range x {
			x[k] = numbersToFloat(e)
		}
		return x
	}
	return v
}

// jsonMember is one member of a JSON object, kept as its raw text.
type jsonMember struct {
	key string
	raw json.RawMessage
}

// parseJSONObject splits a JSON object into its members in order, without
// decoding their values. Duplicate keys keep the last value, as JSON.parse.
func parseJSONObject(raw []byte) ([]jsonMember, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	t, err := d.Token()
	if err != nil {
		return nil, err
	}
	if t != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	var out []jsonMember
	idx := map[string]int{}
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return nil, err
		}
		k, ok := t.(string)
		if !ok {
			return nil, errors.New("bad JSON object key")
		}
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			return nil, err
		}
		if i, dup := idx[k]; dup {
			out[i].raw = v
			continue
		}
		idx[k] = len(out)
		out = append(out, jsonMember{key: k, raw: v})
	}
	if _, err := d.Token(); err != nil {
		return nil, err
	}
	if d.More() {
		return nil, errors.New("trailing data after JSON object")
	}
	return out, nil
}

func appendJSONObject(b []byte, ms []jsonMember) []byte {
	b = append(b, '{')
	for i, m := range ms {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, m.key)
		b = append(b, ':')
		b = append(b, m.raw...)
	}
	return append(b, '}')
}
