package nodesession_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/mongotest"
	"github.com/mongosession/mongosession/nodesession"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// textUUID is a [16]byte UUID type with MarshalText, as github.com/google/uuid's.
type textUUID [16]byte

func (u textUUID) MarshalText() ([]byte, error) {
	h := hex.EncodeToString(u[:])
	return []byte(h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]), nil
}

var (
	testOID  = bson.ObjectID{0x65, 0x5b, 0x1a, 0x2c, 0x3d, 0x4e, 0x5f, 0x60, 0x71, 0x82, 0x93, 0xa4}
	testUUID = textUUID{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}
)

const testUUIDText = "12345678-9abc-def0-0123-456789abcdef"

// docLayout is a layout storing the session as a BSON document, with a
// way to send its cookie for a stored sid.
type docLayout struct {
	name   string
	layout nodesession.Layout
	cookie nodesession.CookieScheme
	id     func(sid string) string
	header func(sid string) string
}

func docLayouts() []docLayout {
	express := func(sid string) string { return "connect.sid=" + expressSign("sec", sid) }
	plain := func(sid string) string { return sid }
	return []docLayout{
		{"connect-mongodb-session", nodesession.ConnectMongoDBSession{}, nodesession.ExpressCookie{Secrets: []string{"sec"}}, plain, express},
		{"connect-mongo stringify off", nodesession.ConnectMongo{DisableStringify: true}, nodesession.ExpressCookie{Secrets: []string{"sec"}}, plain, express},
		{"koa-generic-session", nodesession.KoaGenericSession{}, nodesession.KoaCookie{Keys: []string{"sec"}},
			func(sid string) string { return "koa:sess:" + sid },
			func(sid string) string {
				m := hmac.New(sha1.New, []byte("sec"))
				m.Write([]byte("koa.sid=" + sid))
				return "koa.sid=" + sid + "; koa.sid.sig=" + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
			}},
	}
}

// serve runs one request with the cookie header through m.Handler and h.
func serve(t *testing.T, m *nodesession.Manager, header string, h func(s *nodesession.Session)) {
	t.Helper()
	req := httptest.NewRequest("GET", "/", nil)
	if header != "" {
		req.Header.Set("Cookie", header)
	}
	rec := httptest.NewRecorder()
	m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h(nodesession.FromContext(r.Context()))
	})).ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
}

func insertDoc(t *testing.T, st *mongosession.Store, doc bson.D) error {
	t.Helper()
	return st.Backend().Do(context.Background(), "insert", func(ctx context.Context, c *mongo.Collection) error {
		_, err := c.InsertOne(ctx, doc)
		return err
	})
}

func findDoc(t *testing.T, st *mongosession.Store, id string) bson.Raw {
	t.Helper()
	var raw bson.Raw
	err := st.Backend().Do(context.Background(), "find", func(ctx context.Context, c *mongo.Collection) error {
		var err error
		raw, err = c.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Raw()
		return err
	})
	if err != nil {
		t.Fatalf("reading the stored session: %v", err)
	}
	return raw
}

// storedBSONValues are values a Node app can store in a session document
// (req.session.user = {_id: new ObjectId(), ...}) beyond JSON's.
func storedBSONValues() bson.D {
	dec, _ := bson.ParseDecimal128("1234.5600")
	return bson.D{
		{Key: "oid", Value: testOID},
		{Key: "user", Value: bson.D{{Key: "_id", Value: testOID}, {Key: "name", Value: "ann"}}},
		{Key: "ids", Value: bson.A{testOID, int32(7)}},
		{Key: "dec", Value: dec},
		{Key: "bin", Value: bson.Binary{Subtype: 0, Data: []byte("hi\x00\xff")}},
		{Key: "uuid", Value: bson.Binary{Subtype: bson.TypeBinaryUUID, Data: testUUID[:]}},
		{Key: "userbin", Value: bson.Binary{Subtype: 0x80, Data: []byte{1, 2, 3}}},
		{Key: "ts", Value: bson.Timestamp{T: 1700000000, I: 3}},
		{Key: "code", Value: bson.JavaScript("function () { return 1 }")},
		{Key: "codews", Value: bson.CodeWithScope{Code: "x", Scope: bson.D{{Key: "x", Value: int32(1)}}}},
		{Key: "sym", Value: bson.Symbol("sym")},
		{Key: "dbp", Value: bson.DBPointer{DB: "app.users", Pointer: testOID}},
		{Key: "min", Value: bson.MinKey{}},
		{Key: "max", Value: bson.MaxKey{}},
		{Key: "when", Value: bson.NewDateTimeFromTime(time.UnixMilli(1700000000123))},
	}
}

// supportedValues keeps the values the server under test can store, and
// logs the others: FerretDB 1.x refuses some BSON types.
func supportedValues(t *testing.T, st *mongosession.Store, vals bson.D) bson.D {
	t.Helper()
	var out bson.D
	for i, e := range vals {
		id := "probe-" + e.Key
		err := insertDoc(t, st, bson.D{{Key: "_id", Value: id}, {Key: "v", Value: e.Value}})
		if err != nil {
			t.Logf("the server cannot store %s (%T), not tested here: %v", e.Key, e.Value, err)
			continue
		}
		raw := findDoc(t, st, id)
		if got, want := raw.Lookup("v"), mustValue(t, e.Value); got.Type != want.Type || !bytes.Equal(got.Value, want.Value) {
			t.Logf("the server does not return %s (%T) as stored, not tested here: %v", e.Key, e.Value, got)
			continue
		}
		out = append(out, vals[i])
	}
	return out
}

func mustValue(t *testing.T, v any) bson.RawValue {
	t.Helper()
	typ, b, err := bson.MarshalValue(v)
	if err != nil {
		t.Fatal(err)
	}
	return bson.RawValue{Type: typ, Value: b}
}

// TestSetGetKeepsBSONTypes: a value read with Get and written back with
// Set is stored unchanged, BSON type and bytes, in every document layout;
// and changing one field of a value keeps its other fields' types (the
// review's case: the user's ObjectId _id must stay an ObjectId).
func TestSetGetKeepsBSONTypes(t *testing.T) {
	vals := supportedValues(t, goStore(t, mongotest.Collection(t)), storedBSONValues())
	for _, dl := range docLayouts() {
		t.Run(dl.name, func(t *testing.T) {
			st := goStore(t, mongotest.Collection(t))
			m, err := nodesession.New(nodesession.Options{Store: st, Cookie: dl.cookie, Layout: dl.layout})
			if err != nil {
				t.Fatal(err)
			}
			sid := "abcdefghijklmnopqrstuvwxyz012345"
			exp := time.Now().Add(time.Hour)
			sess := bson.D{{Key: "cookie", Value: bson.D{{Key: "originalMaxAge", Value: int32(3600000)},
				{Key: "expires", Value: exp}, {Key: "httpOnly", Value: true}, {Key: "path", Value: "/"}}}}
			sess = append(sess, vals...)
			if err := insertDoc(t, st, bson.D{{Key: "_id", Value: dl.id(sid)}, {Key: "expires", Value: exp}, {Key: "session", Value: sess}}); err != nil {
				t.Fatal(err)
			}
			serve(t, m, dl.header(sid), func(s *nodesession.Session) {
				if s.IsNew() {
					t.Fatal("the stored session was not found")
				}
				for _, e := range vals {
					v, ok := s.Get(e.Key)
					if !ok {
						t.Fatalf("Get(%q): missing", e.Key)
					}
					if u, isMap := v.(map[string]any); isMap && e.Key == "user" {
						u["name"] = "bob"
					}
					if err := s.Set(e.Key, v); err != nil {
						t.Fatalf("Set(%q, Get(%q)) = %v", e.Key, e.Key, err)
					}
				}
			})
			raw := findDoc(t, st, dl.id(sid))
			for _, e := range vals {
				got := raw.Lookup("session", e.Key)
				if e.Key == "user" {
					if id := got.Document().Lookup("_id"); id.Type != bson.TypeObjectID || !bytes.Equal(id.Value, testOID[:]) {
						t.Errorf("user._id stored as %s %v, want the ObjectId %s", id.Type, id, testOID.Hex())
					}
					if n, _ := got.Document().Lookup("name").StringValueOK(); n != "bob" {
						t.Errorf("user.name = %q, want bob", n)
					}
					continue
				}
				if want := mustValue(t, e.Value); got.Type != want.Type || !bytes.Equal(got.Value, want.Value) {
					t.Errorf("%s: Set(Get) stored %s %v, want %s %v", e.Key, got.Type, got, want.Type, want)
				}
			}
		})
	}
}

// TestSetBSONValuesStoredAsNodeReads: values Set on Go are stored as the
// Node app reads them: a bson.ObjectID as an ObjectId (a hex string in a
// JSON-string session, as JSON.stringify writes an ObjectId), a [16]byte
// UUID type with MarshalText as its text, never as an array of numbers.
func TestSetBSONValuesStoredAsNodeReads(t *testing.T) {
	dec, _ := bson.ParseDecimal128("1.50")
	values := map[string]any{"oid": testOID, "poid": &testOID, "uuid": testUUID,
		"dec": dec, "bin": bson.Binary{Data: []byte("hi")}, "ts": bson.Timestamp{T: 1, I: 2},
		"doc": bson.D{{Key: "_id", Value: testOID}}, "raw": json.RawMessage(`{"a":[1]}`)}
	set := func(s *nodesession.Session) {
		for k, v := range values {
			if err := s.Set(k, v); err != nil {
				t.Fatalf("Set(%q, %T) = %v", k, v, err)
			}
		}
	}
	// The JSON-string layout stores a decimal as text; a document layout
	// needs a server that stores Decimal128 (FerretDB 1.x does not).
	hasDecimal := len(supportedValues(t, goStore(t, mongotest.Collection(t)), bson.D{{Key: "dec", Value: dec}})) == 1
	for _, dl := range docLayouts() {
		t.Run(dl.name, func(t *testing.T) {
			st := goStore(t, mongotest.Collection(t))
			m, err := nodesession.New(nodesession.Options{Store: st, Cookie: dl.cookie, Layout: dl.layout})
			if err != nil {
				t.Fatal(err)
			}
			if !hasDecimal {
				delete(values, "dec")
				defer func() { values["dec"] = dec }()
			}
			serve(t, m, "", set)
			var raw bson.Raw
			_ = st.Backend().Do(context.Background(), "find", func(ctx context.Context, c *mongo.Collection) error {
				raw, err = c.FindOne(ctx, bson.D{}).Raw()
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"oid", "poid"} {
				if v := raw.Lookup("session", k); v.Type != bson.TypeObjectID || !bytes.Equal(v.Value, testOID[:]) {
					t.Errorf("%s stored as %s %v, want an ObjectId", k, v.Type, v)
				}
			}
			if v, ok := raw.Lookup("session", "doc", "_id").ObjectIDOK(); !ok || v != testOID {
				t.Errorf("bson.D's ObjectId stored as %v", raw.Lookup("session", "doc"))
			}
			if v, _ := raw.Lookup("session", "uuid").StringValueOK(); v != testUUIDText {
				t.Errorf("a MarshalText UUID stored as %v, want the string %s", raw.Lookup("session", "uuid"), testUUIDText)
			}
			if v, ok := raw.Lookup("session", "dec").Decimal128OK(); hasDecimal && (!ok || v.String() != "1.50") {
				t.Errorf("Decimal128 stored as %v", raw.Lookup("session", "dec"))
			}
			if st, data, ok := raw.Lookup("session", "bin").BinaryOK(); !ok || st != 0 || string(data) != "hi" {
				t.Errorf("Binary stored as %v", raw.Lookup("session", "bin"))
			}
			if tt, ti, ok := raw.Lookup("session", "ts").TimestampOK(); !ok || tt != 1 || ti != 2 {
				t.Errorf("Timestamp stored as %v", raw.Lookup("session", "ts"))
			}
			if v := raw.Lookup("session", "raw", "a"); v.Type != bson.TypeArray {
				t.Errorf("json.RawMessage stored as %v, want the object it holds", raw.Lookup("session", "raw"))
			}
		})
	}
	t.Run("connect-mongo stringify", func(t *testing.T) {
		st := goStore(t, mongotest.Collection(t))
		m, err := nodesession.New(nodesession.Options{Store: st, Cookie: nodesession.ExpressCookie{Secrets: []string{"sec"}}, Layout: nodesession.ConnectMongo{}})
		if err != nil {
			t.Fatal(err)
		}
		serve(t, m, "", set)
		var raw bson.Raw
		_ = st.Backend().Do(context.Background(), "find", func(ctx context.Context, c *mongo.Collection) error {
			raw, err = c.FindOne(ctx, bson.D{}).Raw()
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		text, _ := raw.Lookup("session").StringValueOK()
		var got map[string]any
		if err := json.Unmarshal([]byte(text), &got); err != nil {
			t.Fatalf("session %q: %v", text, err)
		}
		delete(got, "cookie")
		// What JSON.stringify writes for the js-bson values (Node 20, bson 6.10).
		want := map[string]any{"oid": testOID.Hex(), "poid": testOID.Hex(), "uuid": testUUIDText,
			"dec": map[string]any{"$numberDecimal": "1.50"}, "bin": "aGk=", "ts": map[string]any{"$timestamp": "4294967298"},
			"doc": map[string]any{"_id": testOID.Hex()}, "raw": map[string]any{"a": []any{1.0}}}
		a, _ := json.Marshal(got)
		b, _ := json.Marshal(want)
		if !bytes.Equal(a, b) {
			t.Errorf("stored JSON\n got %s\nwant %s", a, b)
		}
	})
}

// TestInteropBSONValues: the Node app stores req.session.user = {_id:
// ObjectId, name}; the Go side reads the user, renames it and writes it
// back; the Node app still finds an ObjectId (User.findById works). Values
// Set on Go (bson.ObjectID, a MarshalText UUID, bson.Binary) reach Node as
// an ObjectId, a string and a Binary in a document layout, and as
// JSON.stringify's strings in a JSON-string session.
func TestInteropBSONValues(t *testing.T) {
	needNode(t)
	for _, p := range pairings {
		t.Run(p.name, func(t *testing.T) {
			coll := mongotest.Collection(t)
			st := goStore(t, coll)
			node := startNode(t, p.name, coll, []string{"s"}, p.env...)
			goBase := goServer(t, p.manager(t, st, []string{"s"}))
			c := newClient(t)
			c.get(node.base, "/login?user=ann")
			c.get(node.base, "/set?key=user&json="+url.QueryEscape(`{"_id":{"$oid":"`+testOID.Hex()+`"},"name":"ann"}`))
			c.get(goBase, "/rename?name=bob")
			c.get(goBase, "/setbson")
			got := c.session(node.base)
			oid := any(map[string]any{"$bson": "ObjectId", "value": testOID.Hex()})
			bin := any(map[string]any{"$bson": "Binary", "value": "hi"})
			if p.jsonDates { // stringify: JSON.stringify wrote the ObjectId as its hex string
				oid, bin = testOID.Hex(), "aGk="
			}
			want := map[string]any{"user": map[string]any{"_id": oid, "name": "bob"}, "oid": oid, "uuid": testUUIDText, "bin": bin}
			view := map[string]any{}
			for k := range want {
				view[k] = got[k]
			}
			a, _ := json.Marshal(norm(want))
			b, _ := json.Marshal(norm(view))
			if !bytes.Equal(a, b) {
				t.Fatalf("Node's view of the values Go wrote\n got %s\nwant %s", b, a)
			}
		})
	}
}
