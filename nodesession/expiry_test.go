package nodesession_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/mongosession/mongosession/internal/mongotest"
	"github.com/mongosession/mongosession/nodesession"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// TestNullExpires: a document whose expires is null is found by
// connect-mongodb-session (its get tests !doc.expires) and not by
// connect-mongo (its filter {$or: [{expires: {$exists: false}},
// {expires: {$gt: now}}]} matches neither); a missing expires is found by
// both. The Go side decides as the Node store does, checked against the
// Node app when it is installed.
func TestNullExpires(t *testing.T) {
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
	cookieDoc := bson.D{{Key: "originalMaxAge", Value: int32(3600000)}, {Key: "expires", Value: exp},
		{Key: "httpOnly", Value: true}, {Key: "path", Value: "/"}}
	cookieJSON := `{"originalMaxAge":3600000,"expires":"` + exp.Format("2006-01-02T15:04:05.000Z") + `","httpOnly":true,"path":"/"}`
	cases := []struct {
		pairing string
		layout  nodesession.Layout
		session any
		expires any // nil: the field is left out
		found   bool
	}{
		{"express-cms", nodesession.ConnectMongoDBSession{}, bson.D{{Key: "cookie", Value: cookieDoc}, {Key: "user", Value: "alice"}}, bson.Null{}, true},
		{"express-cms", nodesession.ConnectMongoDBSession{}, bson.D{{Key: "cookie", Value: cookieDoc}, {Key: "user", Value: "alice"}}, nil, true},
		{"express-cm-json", nodesession.ConnectMongo{}, `{"cookie":` + cookieJSON + `,"user":"alice"}`, bson.Null{}, false},
		{"express-cm-json", nodesession.ConnectMongo{}, `{"cookie":` + cookieJSON + `,"user":"alice"}`, bson.Undefined{}, false},
		{"express-cm-json", nodesession.ConnectMongo{}, `{"cookie":` + cookieJSON + `,"user":"alice"}`, nil, true},
		{"express-cm-obj", nodesession.ConnectMongo{DisableStringify: true}, bson.D{{Key: "cookie", Value: cookieDoc}, {Key: "user", Value: "alice"}}, bson.Null{}, false},
	}
	_, nodeErr := findNode()
	for i, c := range cases {
		coll := mongotest.Collection(t)
		st := goStore(t, coll)
		m, err := nodesession.New(nodesession.Options{Store: st, Cookie: nodesession.ExpressCookie{Secrets: []string{"s"}}, Layout: c.layout})
		if err != nil {
			t.Fatal(err)
		}
		sid := "nullexpiresnullexpiresnullexpir" + string(rune('a'+i))
		doc := bson.D{{Key: "_id", Value: sid}, {Key: "session", Value: c.session}}
		if c.expires != nil {
			doc = append(doc, bson.E{Key: "expires", Value: c.expires})
		}
		if err := insertDoc(t, st, doc); err != nil {
			if _, undef := c.expires.(bson.Undefined); undef {
				t.Logf("the server cannot store undefined, not tested here: %v", err)
				continue
			}
			t.Fatal(err)
		}
		header := "connect.sid=" + url.QueryEscape(expressSign("s", sid))
		if nodeErr == nil {
			node := startNode(t, c.pairing, coll, []string{"s"})
			if got := whoamiRaw(t, node.base, header); (got == "alice") != c.found {
				t.Errorf("%s, expires %T: Node saw user %v; want found=%v", c.pairing, c.expires, got, c.found)
			}
			// A request that finds the session touches it: put the
			// document back as it was for the Go side.
			if err := st.Backend().Do(context.Background(), "reset", func(ctx context.Context, coll *mongo.Collection) error {
				_, err := coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: sid}}, doc)
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
		var user any
		serve(t, m, header, func(s *nodesession.Session) { user, _ = s.Get("user") })
		if (user == "alice") != c.found {
			t.Errorf("%s, expires %T: Go saw user %v; want found=%v", c.pairing, c.expires, user, c.found)
		}
	}
	if nodeErr != nil {
		t.Logf("Node is not installed: the Node stores' decisions were not checked (%v)", nodeErr)
	}
}
