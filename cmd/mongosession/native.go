package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/httpsession"
)

// The commands of an httpsession (native) collection: sessions,
// revoke-user, revoke-session, users, and the per-user part of stats.
//
// Listing and revoking go through httpsession.Manager's own methods, so
// the command sees and ends sessions exactly as the applications do.
// Where it must read documents itself (users, stats), it relies only on
// the fields every version of the native document has: _id, "user" and
// the expiry field.

// The collection's shape, as shapeOf finds it.
const (
	shapeNative = "native"
	shapeBytes  = "byte-level"
	shapeEmpty  = "empty"
)

// shapeOf tells an httpsession collection from a byte-level one by one
// document that has session data: httpsession stores "session" as an
// embedded document, the byte-level faces (scs, gorilla, gin, fiber) as
// BinData and the Node stores as a string. A collection with no such
// document (empty, or only ended markers) is "empty", and fits every
// command. One find, limit 1: a collection is never shared between a
// native manager and a byte-level face (httpsession's contract), so one
// document speaks for all.
func shapeOf(ctx context.Context, s *mongosession.Store) (string, error) {
	shape := shapeEmpty
	err := s.Backend().Do(ctx, "looking at the collection's documents", func(ctx context.Context, coll *mongo.Collection) error {
		raw, err := coll.FindOne(ctx, bson.D{{Key: "session", Value: bson.D{{Key: "$exists", Value: true}}}},
			options.FindOne().SetProjection(bson.D{{Key: "session", Value: 1}})).Raw()
		if errors.Is(err, mongo.ErrNoDocuments) {
			return nil
		}
		if err != nil {
			return err
		}
		shape = shapeBytes
		if raw.Lookup("session").Type == bson.TypeEmbeddedDocument {
			shape = shapeNative
		}
		return nil
	})
	return shape, err
}

// shapeError is a native command run on a byte-level collection: a usage
// error.
type shapeError struct{ collection string }

func (e *shapeError) Error() string {
	return fmt.Sprintf("%s holds byte-level sessions (scs, gorilla, gin, fiber or Node), not httpsession's: sessions, revoke-user, revoke-session and users need an httpsession collection", e.collection)
}

// requireNative returns the collection's shape, native or empty, or a
// shapeError.
func requireNative(ctx context.Context, s *mongosession.Store) (string, error) {
	shape, err := shapeOf(ctx, s)
	if err != nil {
		return "", err
	}
	if shape == shapeBytes {
		return "", &shapeError{collection: s.Collection().Database().Name() + "." + s.Collection().Name()}
	}
	return shape, nil
}

// manager returns the httpsession.Manager an application would use on the
// store. New ensures the index on "user" that the applications' managers
// have already created (a failure is a warning on stderr). Its Lifetime is
// as long as a Duration goes, so that the stored expiry alone says whether
// a session is live: the command does not know the applications' Lifetime
// and must not hide a session they would still accept.
//
// On an empty collection (no document with session data, so no native
// session), the commands answer without one: a mistyped -collection must
// not create a collection and an index.
func manager(s *mongosession.Store) *httpsession.Manager {
	m := httpsession.New(s)
	m.Lifetime = 200 * 365 * 24 * time.Hour
	return m
}

type sessionInfo struct {
	ID        string    `json:"id"`
	Created   time.Time `json:"created"`
	LastSeen  time.Time `json:"last_seen"`
	Expires   time.Time `json:"expires"`
	UserAgent string    `json:"user_agent"`
}

type sessionsResult struct {
	User     string        `json:"user"`
	Sessions []sessionInfo `json:"sessions"`
}

func (r sessionsResult) text(w io.Writer) error {
	if len(r.Sessions) == 0 {
		_, err := fmt.Fprintf(w, "no live sessions of %s\n", printable(r.User))
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tCREATED\tLAST SEEN\tEXPIRES\tUSER AGENT")
	for _, s := range r.Sessions {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", printable(s.ID), stamp(s.Created), stamp(s.LastSeen), stamp(s.Expires), printable(s.UserAgent))
	}
	return tw.Flush()
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// printable keeps a stored string (a user agent a client chose) from
// driving the operator's terminal: control characters become '?'.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return '?'
		}
		return r
	}, s)
}

func sessions(ctx context.Context, e *env) (result, error) {
	r := sessionsResult{User: e.c.user, Sessions: []sessionInfo{}}
	if e.shape == shapeEmpty {
		return r, nil
	}
	infos, err := manager(e.s).Sessions(ctx, e.c.user)
	if err != nil {
		return nil, err
	}
	for _, in := range infos {
		r.Sessions = append(r.Sessions, sessionInfo{ID: in.ID, Created: in.Created, LastSeen: in.LastSeen, Expires: in.Expires, UserAgent: in.UserAgent})
	}
	// Newest first: by creation, then by last request.
	slices.SortStableFunc(r.Sessions, func(a, b sessionInfo) int {
		if c := b.Created.Compare(a.Created); c != 0 {
			return c
		}
		return b.LastSeen.Compare(a.LastSeen)
	})
	return r, nil
}

type revokeUserResult struct {
	User  string `json:"user"`
	Ended int64  `json:"ended"`
}

func (r revokeUserResult) text(w io.Writer) error {
	_, err := fmt.Fprintf(w, "ended %d sessions of %s\n", r.Ended, printable(r.User))
	return err
}

func revokeUser(ctx context.Context, e *env) (result, error) {
	if e.shape == shapeEmpty {
		return revokeUserResult{User: e.c.user}, nil
	}
	n, err := manager(e.s).RevokeUser(ctx, e.c.user)
	if err != nil {
		return nil, err
	}
	return revokeUserResult{User: e.c.user, Ended: n}, nil
}

type revokeSessionResult struct {
	User  string `json:"user"`
	ID    string `json:"id"`
	Ended bool   `json:"ended"`
}

func (r revokeSessionResult) text(w io.Writer) error {
	_, err := fmt.Fprintf(w, "ended session %s of %s\n", printable(r.ID), printable(r.User))
	return err
}

// revokeSession ends the session only if it is a live session of the
// user. RevokeSession is a no-op for a session that is not (another
// user's, ended, expired): the user's sessions are listed before, so that
// the command can say which, and after, so that it can prove the session
// ended.
func revokeSession(ctx context.Context, e *env) (result, error) {
	user, id := e.c.user, e.c.id
	if e.shape == shapeEmpty {
		return nil, fmt.Errorf("%s has no live session %s (the collection holds no session): nothing ended", printable(user), printable(id))
	}
	m := manager(e.s)
	listed := func() (bool, error) {
		infos, err := m.Sessions(ctx, user)
		return slices.ContainsFunc(infos, func(in httpsession.Info) bool { return in.ID == id }), err
	}
	live, err := listed()
	if err != nil {
		return nil, err
	}
	if !live {
		return nil, fmt.Errorf("%s has no live session %s (ended, expired, or another user's): nothing ended", printable(user), printable(id))
	}
	if err := m.RevokeSession(ctx, user, id); err != nil {
		return nil, err
	}
	if live, err = listed(); err != nil {
		return nil, err
	}
	if live {
		return nil, fmt.Errorf("session %s of %s is still live after RevokeSession", printable(id), printable(user))
	}
	return revokeSessionResult{User: user, ID: id, Ended: true}, nil
}

// liveWithUser matches the live sessions that have a user, from the
// fields every native document has. Byte-level documents and their ended
// markers have no user.
func liveWithUser(s *mongosession.Store, now time.Time) bson.D {
	return bson.D{
		{Key: "user", Value: bson.D{{Key: "$type", Value: "string"}}},
		{Key: s.Backend().ExpiresKey(), Value: bson.D{{Key: "$gt", Value: now}}},
	}
}

const maxTop = 10_000

type userCount struct {
	User     string `json:"user" bson:"_id"`
	Sessions int64  `json:"sessions" bson:"n"`
}

type usersResult struct {
	Users []userCount `json:"users"`
}

func (r usersResult) text(w io.Writer) error {
	if len(r.Users) == 0 {
		_, err := fmt.Fprintln(w, "no live sessions with a user")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SESSIONS\tUSER")
	for _, u := range r.Users {
		fmt.Fprintf(tw, "%d\t%s\n", u.Sessions, printable(u.User))
	}
	return tw.Flush()
}

// users lists the -top users with the most live sessions, most first (one
// aggregate: $match on user and expiry, $group by user, $sort, $limit).
func users(ctx context.Context, e *env) (result, error) {
	r := usersResult{Users: []userCount{}}
	pipeline := mongo.Pipeline{
		{{Key: "$match", Value: liveWithUser(e.s, time.Now())}},
		{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$user"}, {Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}}}}},
		{{Key: "$sort", Value: bson.D{{Key: "n", Value: -1}, {Key: "_id", Value: 1}}}},
		{{Key: "$limit", Value: e.c.top}},
	}
	err := e.s.Backend().Do(ctx, "counting sessions per user", func(ctx context.Context, coll *mongo.Collection) error {
		cur, err := coll.Aggregate(ctx, pipeline)
		if err != nil {
			return err
		}
		return cur.All(ctx, &r.Users)
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// userStats is stats' part for native collections.
type userStats struct {
	// Distinct is the number of users with at least one live session.
	Distinct int64 `json:"distinct"`
	// Sessions is the number of live sessions with a user.
	Sessions int64 `json:"sessions"`
	// Max and Median are the live sessions per user (0 with no user).
	Max    int64   `json:"max_per_user"`
	Median float64 `json:"median_per_user"`
	// Anonymous is the number of live sessions without a user.
	Anonymous int64 `json:"without_user"`
}

// perUser computes the distinct users and the sessions per user in one
// aggregate that returns a histogram (how many users have n sessions), so
// that memory does not grow with the number of users.
func perUser(ctx context.Context, s *mongosession.Store) (*userStats, error) {
	pipeline := mongo.Pipeline{
		{{Key: "$match", Value: liveWithUser(s, time.Now())}},
		{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$user"}, {Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}}}}},
		{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$n"}, {Key: "users", Value: bson.D{{Key: "$sum", Value: 1}}}}}},
	}
	var hist []struct {
		N     int64 `bson:"_id"`
		Users int64 `bson:"users"`
	}
	err := s.Backend().Do(ctx, "counting sessions per user", func(ctx context.Context, coll *mongo.Collection) error {
		cur, err := coll.Aggregate(ctx, pipeline)
		if err != nil {
			return err
		}
		return cur.All(ctx, &hist)
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(hist, func(a, b struct {
		N     int64 `bson:"_id"`
		Users int64 `bson:"users"`
	}) int {
		return int(a.N - b.N)
	})
	u := &userStats{}
	for _, h := range hist {
		u.Distinct += h.Users
		u.Sessions += h.N * h.Users
		u.Max = max(u.Max, h.N)
	}
	// The median of the sorted per-user counts: the middle one, or the
	// mean of the two middle ones.
	nth := func(i int64) int64 { // the i-th count (0-based) in ascending order
		for _, h := range hist {
			if i < h.Users {
				return h.N
			}
			i -= h.Users
		}
		return 0
	}
	if u.Distinct > 0 {
		mid := u.Distinct / 2
		if u.Distinct%2 == 1 {
			u.Median = float64(nth(mid))
		} else {
			u.Median = float64(nth(mid-1)+nth(mid)) / 2
		}
	}
	return u, nil
}
