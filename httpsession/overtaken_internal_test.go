package httpsession

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/mongotest"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// internalManager is a manager on a fresh collection, driven without HTTP.
func internalManager(t *testing.T) (*Manager, *mongo.Collection) {
	t.Helper()
	store := mongotest.NewStore(t, mongosession.Options{Timeout: 30 * time.Second})
	return New(store), store.Collection()
}

// request loads the session token names (none for "") as a request would,
// and returns its context.
func request(t *testing.T, m *Manager, token string) (context.Context, *state) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if token != "" {
		r.AddCookie(&http.Cookie{Name: DefaultCookieName, Value: token})
	}
	st, err := m.load(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	return context.WithValue(context.Background(), m.key, st), st
}

// login stores a new session of user and returns its token.
func login(t *testing.T, m *Manager, user string) string {
	t.Helper()
	ctx, st := request(t, m, "")
	m.Put(ctx, "a", "1")
	m.SetUser(ctx, user)
	if err := m.save(ctx, st); err != nil {
		t.Fatal(err)
	}
	return st.token
}

// renew renews token's session in a request of its own, keeping its user,
// and returns the new token.
func renew(t *testing.T, m *Manager, token string) string {
	t.Helper()
	ctx, st := request(t, m, token)
	if err := m.RenewToken(ctx); err != nil {
		t.Fatal(err)
	}
	return st.token
}

func setFields(t *testing.T, coll *mongo.Collection, token string, set bson.D) {
	t.Helper()
	res, err := coll.UpdateOne(context.Background(), bson.D{{Key: "_id", Value: mongosession.HashID(token)}}, bson.D{{Key: "$set", Value: set}})
	if err != nil || res.MatchedCount != 1 {
		t.Fatalf("updating a stored document: %v, %v", err, res)
	}
}

func storedValue(t *testing.T, coll *mongo.Collection, token, key string) string {
	t.Helper()
	raw, err := coll.FindOne(context.Background(), bson.D{{Key: "_id", Value: mongosession.HashID(token)}}).Raw()
	if err != nil {
		t.Fatal(err)
	}
	s, _ := raw.Lookup(fieldSession, key).StringValueOK()
	return s
}

// TestSlowRacerPastGrace: a request that loaded the session before another
// request renewed it (keeping the user) and saves minutes later (a slow
// upload) still lands in the successor: it raced the renewal whenever it
// saves, within the tombstone's life. One whose start comes after the
// fence (beyond the clocks' allowance) did not race it, and one that finds
// the tombstone expired does not follow it.
func TestSlowRacerPastGrace(t *testing.T) {
	m, coll := internalManager(t)
	for _, tc := range []struct {
		name    string
		started time.Duration // before now
		renewed time.Duration // before now
		expired bool
		want    string
	}{
		{"slow upload", 5 * time.Minute, 2 * time.Minute, false, "book"},
		{"fenced before the request started", time.Second, 2 * time.Minute, false, ""},
		{"tombstone expired", 9 * time.Minute, 8 * time.Minute, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := login(t, m, "alice")
			ctx, st := request(t, m, old)
			if !st.stored {
				t.Fatal("the racing request has no session")
			}
			st.start = time.Now().Add(-tc.started)
			renewed := renew(t, m, old)
			set := bson.D{{Key: fieldRenewed, Value: time.Now().Add(-tc.renewed)}}
			if tc.expired {
				set = append(set, bson.E{Key: m.expiresKey(), Value: time.Now().Add(-time.Second)})
			}
			setFields(t, coll, old, set)
			m.Put(ctx, "cart", "book")
			if err := m.save(ctx, st); err != nil {
				t.Fatal(err)
			}
			if got := storedValue(t, coll, renewed, "cart"); got != tc.want {
				t.Errorf("cart in the successor: %q, want %q", got, tc.want)
			}
			if st.issued {
				t.Error("the racing request would set a cookie")
			}
		})
	}
}

// TestRestoredTombstoneNotUnfenced: a logout deletes a renewal's tombstone
// between the renewal's fence and its insert, fails to end the successor
// and puts the tombstone back; the renewal's insert then fails too. The
// renewal's unfence must not bring the logged-out session back: the
// tombstone put back is the logout's, not the fence the renewal wrote.
func TestRestoredTombstoneNotUnfenced(t *testing.T) {
	m, coll := internalManager(t)
	ctx := context.Background()
	token := login(t, m, "alice")
	oldID, newID := mongosession.HashID(token), mongosession.HashID("successor-not-inserted")
	at := bson.NewDateTimeFromTime(time.Now())
	old, err := m.fence(ctx, oldID, newID, at)
	if err != nil || old == nil {
		t.Fatalf("fence: %v %v", old, err)
	}
	// The logout: its delete, then the put-back after ending the successor failed.
	tomb, err := coll.FindOneAndDelete(ctx, bson.D{{Key: "_id", Value: oldID}}).Raw()
	if err != nil {
		t.Fatal(err)
	}
	if err := m.restoreTombstone(ctx, coll, tomb, newID); err != nil {
		t.Fatal(err)
	}
	// The renewal's insert failed: it unfences.
	if err := m.unfence(ctx, oldID, newID, at, old); err != nil {
		t.Fatal(err)
	}
	raw, err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: oldID}}).Raw()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.LookupErr(fieldNext); err != nil {
		t.Fatal("the logged-out session was restored by the failed renewal")
	}
	if _, err := raw.LookupErr(fieldRenewed); err == nil {
		t.Error("the tombstone put back still carries the renewal's fence time")
	}
	if _, st := request(t, m, token); st.stored || st.gone {
		t.Errorf("the logged-out token loads stored=%v gone=%v, want an unknown cookie", st.stored, st.gone)
	}

	// Without the logout in between, unfence restores what it fenced.
	token = login(t, m, "bob")
	oldID = mongosession.HashID(token)
	at = bson.NewDateTimeFromTime(time.Now())
	if old, err = m.fence(ctx, oldID, newID, at); err != nil || old == nil {
		t.Fatalf("fence: %v %v", old, err)
	}
	if err := m.unfence(ctx, oldID, newID, at, old); err != nil {
		t.Fatal(err)
	}
	if _, st := request(t, m, token); !st.stored || st.user != "bob" {
		t.Errorf("after unfence the session loads stored=%v user=%q, want bob's", st.stored, st.user)
	}
}
