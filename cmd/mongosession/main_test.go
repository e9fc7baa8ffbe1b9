package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/mongotest"
)

func TestMain(m *testing.M) { os.Exit(mongotest.Main(m)) }

var ctx = context.Background()

// admin runs the command with args and no environment but MONGODB_URI
// as given, and returns its exit status, stdout and stderr.
func admin(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(ctx, args, func(k string) string { return env[k] }, &out, &errb)
	return code, out.String(), errb.String()
}

// fixture fills a fresh collection with 3 live sessions, 1 ended one, 2
// expired ones and one document without a date, and returns the flags that name it.
func fixture(t *testing.T) []string {
	t.Helper()
	coll := mongotest.Collection(t)
	s, err := mongosession.New(ctx, mongosession.Options{URI: mongotest.URI(t), Database: mongotest.Database, Collection: coll, AutoRemove: mongosession.AutoRemoveOff})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tok := range []string{"live-token-1", "live-token-2", "live-token-3"} {
		if err := s.CommitCtx(ctx, tok, []byte("v"), time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	// An ended session: Delete leaves a marker until its expiry.
	if err := s.CommitCtx(ctx, "ended-token", []byte("v"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteCtx(ctx, "ended-token"); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{"old-token-1", "old-token-2"} {
		if err := s.CommitCtx(ctx, tok, []byte("v"), time.Now().Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Collection().InsertOne(ctx, bson.D{{Key: "_id", Value: "odd-token"}, {Key: "expires", Value: "tomorrow"}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := mongo.Connect(options.Client().ApplyURI(mongotest.URI(t)))
		if err == nil {
			_ = c.Database(mongotest.Database).Collection(coll).Drop(ctx)
			_ = c.Disconnect(ctx)
		}
	})
	return []string{"-db", mongotest.Database, "-collection", coll}
}

func ttlSupported(t *testing.T) bool {
	c, err := mongo.Connect(options.Client().ApplyURI(mongotest.URI(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(ctx)
	coll := c.Database(mongotest.Database).Collection(mongotest.Collection(t))
	defer coll.Drop(ctx)
	_, err = coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "expires", Value: 1}}, Options: options.Index().SetExpireAfterSeconds(0)})
	return err == nil
}

func TestAdminCommands(t *testing.T) {
	flags := fixture(t)
	env := map[string]string{"MONGODB_URI": mongotest.URI(t)}
	tokens := []string{"live-token", "old-token", "odd-token", "ended-token"}
	noTokens := func(name, text string) {
		for _, tok := range tokens {
			if strings.Contains(text, tok) {
				t.Errorf("%s printed a session token: %q", name, text)
			}
		}
	}

	code, out, errs := admin(t, env, append(flags, "count")...)
	if code != 0 || strings.TrimSpace(out) != "3" {
		t.Fatalf("count = %d %q %q; want 3 live sessions", code, out, errs)
	}

	code, out, errs = admin(t, env, append(flags, "stats")...)
	noTokens("stats", out+errs)
	if code != 0 {
		t.Fatalf("stats = %d %q %q", code, out, errs)
	}
	got := table(out)
	for label, want := range map[string]string{
		"live sessions": "3", "expired, not yet removed": "2", `without a date in "expires"`: "1", "ended, awaiting expiry": "1", "documents": "7", "TTL index": "none", "shape": "byte-level",
	} {
		if got[label] != want {
			t.Errorf("stats %s = %q; want %q\n%s", label, got[label], want, out)
		}
	}

	// Flags may also follow the command.
	code, out, errs = admin(t, env, append([]string{"delete-expired"}, flags...)...)
	if code != 0 || strings.TrimSpace(out) != "deleted 2 expired sessions" {
		t.Fatalf("delete-expired = %d %q %q", code, out, errs)
	}
	if code, out, _ = admin(t, env, append(flags, "count")...); code != 0 || strings.TrimSpace(out) != "3" {
		t.Fatalf("count after delete-expired = %d %q; the live sessions must stay", code, out)
	}

	code, out, errs = admin(t, env, append(flags, "indexes")...)
	if code != 0 || !strings.Contains(out, "_id_") || !strings.Contains(out, "TTL index: none") {
		t.Fatalf("indexes before -ensure = %d %q %q; want _id_ and no TTL index (no command but -ensure creates one)", code, out, errs)
	}
	code, out, errs = admin(t, env, append(flags, "indexes", "-ensure")...)
	if ttlSupported(t) {
		if code != 0 || !strings.Contains(out, "expires_1") || !strings.Contains(out, "expireAfterSeconds: 0") || !strings.Contains(out, "TTL index: expires_1") {
			t.Fatalf("indexes -ensure = %d %q %q; want the TTL index", code, out, errs)
		}
	} else if code != 0 || !strings.Contains(out, "the server has no TTL indexes") {
		t.Fatalf("indexes -ensure on a server without TTL indexes = %d %q %q; want it said", code, out, errs)
	}

	code, out, errs = admin(t, env, append(flags, "clear")...)
	if code != 2 || !strings.Contains(errs, "-yes") {
		t.Fatalf("clear without -yes = %d %q %q; want a refusal naming -yes", code, out, errs)
	}
	if _, out, _ = admin(t, env, append(flags, "count")...); strings.TrimSpace(out) != "3" {
		t.Fatalf("clear without -yes deleted sessions: count = %q", out)
	}
	code, out, errs = admin(t, env, append(flags, "clear", "-yes")...)
	if code != 0 || !strings.Contains(out, "5 documents deleted") {
		t.Fatalf("clear -yes = %d %q %q", code, out, errs)
	}
	noTokens("clear", out+errs)
	if _, out, _ = admin(t, env, append(flags, "count")...); strings.TrimSpace(out) != "0" {
		t.Fatalf("count after clear = %q", out)
	}
}

// table reads "label  value" lines, as tabwriter aligns them.
func table(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if label, value, ok := strings.Cut(line, "  "); ok {
			m[strings.TrimSpace(label)] = strings.TrimSpace(value)
		}
	}
	return m
}

func TestAdminUsageErrors(t *testing.T) {
	uri := map[string]string{"MONGODB_URI": mongotest.URI(t)}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no command", uri, []string{"-collection", "c"}, "usage"},
		{"unknown command", uri, []string{"-collection", "c", "drop"}, `unknown command "drop"`},
		{"no collection", uri, []string{"count"}, "-collection is required"},
		{"no uri", nil, []string{"-collection", "c", "count"}, "MONGODB_URI"},
		{"bad flag", uri, []string{"-collection", "c", "count", "-nope"}, "-nope"},
		{"extra argument", uri, []string{"-collection", "c", "count", "more"}, "unexpected arguments"},
		{"bad option", uri, []string{"-collection", "c", "-expires-key", "$x", "count"}, "Options.ExpiresKey"},
		{"expire-after without -ensure", uri, []string{"-collection", "c", "indexes", "-expire-after", "5s"}, "only applies with -ensure"},
		{"expire-after not whole seconds", uri, []string{"-collection", "c", "indexes", "-ensure", "-expire-after", "1500ms"}, "whole seconds"},
	} {
		code, out, errs := admin(t, tc.env, tc.args...)
		if code != 2 || !strings.Contains(errs, tc.want) {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want 2 and %q", tc.name, code, out, errs, tc.want)
		}
	}
}

func TestAdminUnreachable(t *testing.T) {
	start := time.Now()
	code, out, errs := admin(t, nil, "-uri", "mongodb://127.0.0.1:1/", "-collection", "c", "-timeout", "500ms", "count")
	if code != 1 || !strings.Contains(errs, "database unavailable") {
		t.Fatalf("count against a closed port = %d %q %q; want exit 1 and the unavailable error", code, out, errs)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Fatalf("took %v with -timeout 500ms", el)
	}
}

// TestAdminUsageHidesTheURI: the usage and help texts print each flag's
// default; $MONGODB_URI, which may hold a password, must not be one.
func TestAdminUsageHidesTheURI(t *testing.T) {
	env := map[string]string{"MONGODB_URI": "mongodb://admin:s3cretPW@db.example.invalid/app"}
	for _, args := range [][]string{
		{},
		{"-collection", "c", "drop"},
		{"count", "-h"},
		{"-h"},
		{"-collection", "c", "count", "-nope"},
	} {
		code, out, errs := admin(t, env, args...)
		if strings.Contains(out+errs, "s3cretPW") {
			t.Errorf("mongosession %q printed the password from $MONGODB_URI: %q", args, out+errs)
		}
		if len(args) > 0 && args[len(args)-1] == "-h" && code != 0 {
			t.Errorf("mongosession %q exited %d; -h is not an error", args, code)
		}
	}
}

// TestAdminEnsureKeepsTTL: "indexes -ensure" on a collection whose TTL
// index an administrator set to expireAfterSeconds 3600 keeps it, unless
// -expire-after asks for another value, which it announces.
func TestAdminEnsureKeepsTTL(t *testing.T) {
	if !ttlSupported(t) {
		t.Skip("the server has no TTL indexes (FerretDB 1.x): there is no index whose options could be kept")
	}
	flags := fixture(t)
	env := map[string]string{"MONGODB_URI": mongotest.URI(t)}
	c, err := mongo.Connect(options.Client().ApplyURI(mongotest.URI(t)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Disconnect(ctx)
	coll := c.Database(mongotest.Database).Collection(flags[3])
	if _, err := coll.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: bson.D{{Key: "expires", Value: 1}}, Options: options.Index().SetExpireAfterSeconds(3600)}); err != nil {
		t.Fatal(err)
	}
	code, out, errs := admin(t, env, append(flags, "indexes", "-ensure")...)
	if code != 0 || !strings.Contains(out, "expireAfterSeconds: 3600") || strings.Contains(out, "changing") {
		t.Fatalf("indexes -ensure = %d %q %q; want the index kept at 3600 s", code, out, errs)
	}
	code, out, errs = admin(t, env, append(flags, "indexes", "-ensure", "-expire-after", "60s")...)
	if code != 0 || !strings.Contains(out, "expireAfterSeconds 3600 -> 60") || !strings.Contains(out, "expireAfterSeconds: 60") {
		t.Fatalf("indexes -ensure -expire-after 60s = %d %q %q; want the change announced and made", code, out, errs)
	}
}

// TestAdminJSON: with -json, every command that prints writes exactly one
// JSON document on stdout, whose figures match the text's.
func TestAdminJSON(t *testing.T) {
	flags := fixture(t)
	env := map[string]string{"MONGODB_URI": mongotest.URI(t)}
	one := func(args ...string) map[string]any {
		t.Helper()
		code, out, errs := admin(t, env, append(append(flags, args...), "-json")...)
		if code != 0 {
			t.Fatalf("%q -json = %d %q %q", args, code, out, errs)
		}
		dec := json.NewDecoder(strings.NewReader(out))
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			t.Fatalf("%q -json: %v\n%s", args, err, out)
		}
		if _, err := dec.Token(); err != io.EOF {
			t.Fatalf("%q -json wrote more than one JSON document:\n%s", args, out)
		}
		return doc
	}
	if doc := one("count"); doc["live"] != 3.0 {
		t.Errorf("count -json = %v", doc)
	}
	doc := one("stats")
	for k, want := range map[string]any{"live": 3.0, "expired": 2.0, "undated": 1.0, "ended": 1.0, "documents": 7.0, "shape": "byte-level", "ttl_index": nil} {
		if doc[k] != want {
			t.Errorf("stats -json %s = %v; want %v", k, doc[k], want)
		}
	}
	if doc := one("indexes"); doc["ttl_index"] != nil || len(doc["indexes"].([]any)) != 1 {
		t.Errorf("indexes -json = %v; want _id_ alone", doc)
	}
	if doc := one("delete-expired"); doc["deleted"] != 2.0 || doc["interrupted"] != false {
		t.Errorf("delete-expired -json = %v", doc)
	}
	if doc := one("clear", "-yes"); doc["deleted"] != 5.0 {
		t.Errorf("clear -json = %v", doc)
	}
}
