package nodesession_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/mongotest"
	"github.com/mongosession/mongosession/nodesession"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
)

// bigEnv is a Manager over a store whose data commands are recorded, with
// an ErrorHandler that keeps the error of a failed save.
type bigEnv struct {
	st   *mongosession.Store
	cmds *mongotest.Commands
	m    *nodesession.Manager
	err  error
}

func newBigEnv(t *testing.T, ly nodesession.Layout) *bigEnv {
	t.Helper()
	e := &bigEnv{cmds: mongotest.DataCommands()}
	e.st = mongotest.NewRecordedStore(t, mongosession.Options{PlainIDs: true, AutoRemove: mongosession.AutoRemoveOff}, e.cmds)
	var err error
	e.m, err = nodesession.New(nodesession.Options{Store: e.st, Cookie: nodesession.ExpressCookie{Secrets: []string{"s"}}, Layout: ly,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			e.err = err
			http.Error(w, "session unavailable", http.StatusInternalServerError)
		}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// serve runs one request carrying cookie (a "name=value" header, or "")
// through the Manager and h; it returns the response and the session
// cookie it issued ("" for none) and takes the commands sent before it.
func (e *bigEnv) serve(t *testing.T, cookie string, h func(s *nodesession.Session)) (*httptest.ResponseRecorder, string) {
	t.Helper()
	e.err = nil
	e.cmds.Reset()
	req := httptest.NewRequest("GET", "/", nil)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	rec := httptest.NewRecorder()
	e.m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h(nodesession.FromContext(r.Context()))
	})).ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.Name == "connect.sid" && c.Value != "" {
			return rec, c.Name + "=" + c.Value
		}
	}
	return rec, ""
}

// refused checks that the last request failed with ErrTooLarge through
// ErrorHandler, issued no cookie and sent exactly want.
func (e *bigEnv) refused(t *testing.T, rec *httptest.ResponseRecorder, cookie string, want ...string) {
	t.Helper()
	if rec.Code != http.StatusInternalServerError || !errors.Is(e.err, mongosession.ErrTooLarge) {
		t.Fatalf("status %d, ErrorHandler got %v; want 500 with ErrTooLarge", rec.Code, e.err)
	}
	if cookie != "" {
		t.Errorf("the refused save issued a cookie")
	}
	if got := e.cmds.TakeNames(); !slices.Equal(got, want) {
		t.Errorf("the refused save sent %v, want %v", got, want)
	}
}

// store saves a new session holding vals and returns its cookie.
func (e *bigEnv) store(t *testing.T, vals ...big) string {
	t.Helper()
	rec, cookie := e.serve(t, "", func(s *nodesession.Session) { setBig(t, s, vals...) })
	if rec.Code != 200 || cookie == "" {
		t.Fatalf("storing the session: status %d, error %v", rec.Code, e.err)
	}
	return cookie
}

// big is a value of mib MiB under k (the letter k repeated).
type big struct {
	k   string
	mib int
}

// setBig sets each value in s.
func setBig(t *testing.T, s *nodesession.Session, vals ...big) {
	t.Helper()
	for _, v := range vals {
		if err := s.Set(v.k, strings.Repeat(v.k, v.mib<<20)); err != nil {
			t.Fatal(err)
		}
	}
}

// keys checks that cookie loads the stored session with exactly the keys
// want, each value of its size, in a document within the limit.
func (e *bigEnv) keys(t *testing.T, cookie string, want ...big) {
	t.Helper()
	var got []string
	sizes := map[string]int{}
	rec, _ := e.serve(t, cookie, func(s *nodesession.Session) {
		if s.IsNew() {
			return
		}
		got = s.Keys()
		for _, k := range got {
			v, _ := s.String(k)
			sizes[k] = len(v)
		}
	})
	if rec.Code != 200 {
		t.Fatalf("reading the session: status %d, error %v", rec.Code, e.err)
	}
	var wantKeys []string
	for _, v := range want {
		wantKeys = append(wantKeys, v.k)
		if sizes[v.k] != v.mib<<20 {
			t.Errorf("%s holds %d bytes, want %d MiB", v.k, sizes[v.k], v.mib)
		}
	}
	if !slices.Equal(got, wantKeys) {
		t.Fatalf("the stored session has keys %v, want %v", got, wantKeys)
	}
	var largest int
	err := e.st.Backend().Do(context.Background(), "sizes", func(ctx context.Context, c *mongo.Collection) error {
		cur, err := c.Find(ctx, bson.D{})
		if err != nil {
			return err
		}
		defer cur.Close(ctx)
		for cur.Next(ctx) {
			largest = max(largest, len(cur.Current))
		}
		return cur.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	if largest > mongosession.MaxDocumentSize {
		t.Errorf("a %d-byte document is stored", largest)
	}
}

// TestTooLargeSession: a save whose document would exceed MongoDB's 16 MiB
// fails with ErrTooLarge (to ErrorHandler), before anything is sent, in
// the document and the JSON-string layouts, and the stored session is
// left as it was: a new session is not stored; a stored one grown past
// the limit by a later request keeps its old values; a Regenerate of a
// session that would be too large deletes nothing, and the old cookie
// still reads the session.
func TestTooLargeSession(t *testing.T) {
	for _, ly := range []struct {
		name       string
		layout     nodesession.Layout
		regenerate bool // run the Regenerate case: it differs by layout only in the session value, which "new" covers
	}{{"document", nodesession.ConnectMongoDBSession{}, true}, {"json", nodesession.ConnectMongo{}, false}} {
		t.Run(ly.name+"/new", func(t *testing.T) {
			e := newBigEnv(t, ly.layout)
			rec, cookie := e.serve(t, "", func(s *nodesession.Session) { setBig(t, s, big{"a", 9}, big{"b", 9}) })
			e.refused(t, rec, cookie)
			if n := mongotest.CountDocuments(t, e.st, bson.D{}); n != 0 {
				t.Errorf("the refused new session stored %d documents", n)
			}
		})
		t.Run(ly.name+"/grown", func(t *testing.T) {
			e := newBigEnv(t, ly.layout)
			old := e.store(t, big{"a", 9})
			rec, cookie := e.serve(t, old, func(s *nodesession.Session) { setBig(t, s, big{"b", 9}) })
			e.refused(t, rec, cookie, "find")
			e.keys(t, old, big{"a", 9})
		})
		if !ly.regenerate {
			continue
		}
		t.Run(ly.name+"/regenerate", func(t *testing.T) {
			e := newBigEnv(t, ly.layout)
			old := e.store(t, big{"a", 9})
			rec, cookie := e.serve(t, old, func(s *nodesession.Session) {
				if err := s.Regenerate(); err != nil {
					t.Fatal(err)
				}
				setBig(t, s, big{"b", 9})
			})
			e.refused(t, rec, cookie, "find")
			e.keys(t, old, big{"a", 9})
			if n := mongotest.CountDocuments(t, e.st, bson.D{}); n != 1 {
				t.Errorf("%d documents stored, want the old session only", n)
			}
		})
	}
}

// TestTooLargeAfterAnotherWrite: another writer grows the session between
// the load and the save, so that only the stored document, not the one
// the request loaded, is too large with the request's changes. A
// Regenerate has deleted the old document by the time it knows: the
// request fails and the session stays ended (a deleted document is never
// put back: that would undo a logout racing the move), and nothing is sent
// after the delete. An update is refused by the server (MongoDB; FerretDB
// 1.x stores such documents, and the case is skipped there), and the
// stored session keeps the other writer's value and not the request's.
func TestTooLargeAfterAnotherWrite(t *testing.T) {
	for _, regenerate := range []bool{true, false} {
		name := "update"
		if regenerate {
			name = "regenerate"
		}
		t.Run(name, func(t *testing.T) {
			e := newBigEnv(t, nodesession.ConnectMongoDBSession{})
			if !regenerate && !mongotest.RefusesLargeDocuments(t, e.st.Collection()) {
				t.Skip("the server stores documents over 16 MiB (FerretDB 1.x): this case tests the server's refusal of an update that the check before sending cannot see")
			}
			old := e.store(t, big{"a", 5})
			rec, cookie := e.serve(t, old, func(s *nodesession.Session) {
				if regenerate {
					if err := s.Regenerate(); err != nil {
						t.Fatal(err)
					}
				}
				setBig(t, s, big{"b", 5})
				// The other writer, after the load and before the save.
				err := e.st.Backend().Do(context.Background(), "other writer", func(ctx context.Context, c *mongo.Collection) error {
					_, err := c.UpdateOne(ctx, bson.D{}, bson.D{{Key: "$set", Value: bson.D{{Key: "session.c", Value: strings.Repeat("c", 7<<20)}}}})
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
			})
			if regenerate {
				e.refused(t, rec, cookie, "find", "update", "findAndModify")
				if n := mongotest.CountDocuments(t, e.st, bson.D{}); n != 0 {
					t.Errorf("%d documents stored after the failed move, want the session ended", n)
				}
				return
			}
			e.refused(t, rec, cookie, "find", "update", "update")
			e.keys(t, old, big{"a", 5}, big{"c", 7})
			if n := mongotest.CountDocuments(t, e.st, bson.D{}); n != 1 {
				t.Errorf("%d documents stored, want the old session only", n)
			}
		})
	}
}
