package robustness

import (
	"slices"
	"testing"
	"time"
)

// hist builds a history by hand: each op's Call and Return are given in
// milliseconds.
func hist(ops ...*Op) *History {
	h := newHistory()
	for i, o := range ops {
		o.ID = i
		h.ops = append(h.ops, o)
	}
	return h
}

func op(actor string, kind Kind, cookie string, call, ret int, status Status, answer, setTo string) *Op {
	return &Op{Actor: actor, Kind: kind, Cookie: cookie, Call: time.Duration(call) * time.Millisecond,
		Return: time.Duration(ret) * time.Millisecond, Status: status, Raw: answer, Answer: parseAnswer(answer), SetTo: setTo}
}

func checks(r Report) []string {
	var out []string
	for _, v := range r.Violations {
		out = append(out, v.Check)
	}
	return out
}

// TestCheck decides small histories written by hand: each contract
// violation is found, and the legal histories beside them pass.
func TestCheck(t *testing.T) {
	put := func(o *Op, k, v string) *Op { o.Key, o.Value = k, v; return o }
	get := func(o *Op, k string) *Op { o.Key = k; return o }
	held := func(o *Op, release int) *Op {
		o.Held, o.Release = true, time.Duration(release)*time.Millisecond
		return o
	}
	for _, tc := range []struct {
		name  string
		bytes bool
		ops   []*Op
		want  []string // the checks that must fail; nil: none
	}{
		{"concurrent increments, each counted once", false, []*Op{
			op("b", Incr, "", 0, 5, OK, "ls=L new=1 n=1", "c"),
			op("b", Incr, "c", 10, 30, OK, "ls=L new=0 n=3", ""),
			op("b", Incr, "c", 12, 25, OK, "ls=L new=0 n=2", ""),
			op("b", Incr, "c", 40, 45, OK, "ls=L new=0 n=4", ""),
		}, nil},
		{"two increments that both answer 2: one is lost", false, []*Op{
			op("b", Incr, "", 0, 5, OK, "ls=L new=1 n=1", "c"),
			op("b", Incr, "c", 10, 30, OK, "ls=L new=0 n=2", ""),
			op("b", Incr, "c", 12, 25, OK, "ls=L new=0 n=2", ""),
			op("b", Incr, "c", 40, 45, OK, "ls=L new=0 n=3", ""),
		}, []string{"counter"}},
		{"a failed increment may or may not count", false, []*Op{
			op("b", Incr, "", 0, 5, OK, "ls=L new=1 n=1", "c"),
			op("b", Incr, "c", 10, 30, Failed, "error", ""),
			op("b", Incr, "c", 40, 45, OK, "ls=L new=0 n=3", ""),
		}, nil},
		{"a read after an acknowledged logout finds the session", true, []*Op{
			put(op("b", Put, "", 0, 5, OK, "ls=L new=1", "c"), "a", "b.1"),
			op("b", Logout, "c", 10, 20, OK, "ok=1", "-"),
			get(op("thief", Get, "c", 30, 35, OK, "ls=L new=0 v=b.1", ""), "a"),
		}, []string{"ended"}},
		{"after a logout the cookie is a new visitor", true, []*Op{
			put(op("b", Put, "", 0, 5, OK, "ls=L new=1", "c"), "a", "b.1"),
			op("b", Logout, "c", 10, 20, OK, "ok=1", "-"),
			get(op("thief", Get, "c", 30, 35, OK, "ls=M new=1 v=", ""), "a"),
		}, nil},
		{"a session that nothing ended is gone", true, []*Op{
			put(op("b", Put, "", 0, 5, OK, "ls=L new=1", "c"), "a", "b.1"),
			get(op("b", Get, "c", 30, 35, OK, "ls=M new=1 v=", ""), "a"),
		}, []string{"lost"}},
		{"a session reads another session's value", true, []*Op{
			put(op("b", Put, "", 0, 5, OK, "ls=L new=1", "c"), "a", "b.1"),
			put(op("d", Put, "", 0, 5, OK, "ls=M new=1", "e"), "a", "d.1"),
			get(op("b", Get, "c", 30, 35, OK, "ls=L new=0 v=d.1", ""), "a"),
		}, []string{"mixed"}},
		{"a write held across the login reaches the renewed session", false, []*Op{
			put(op("atk", Put, "", 0, 5, OK, "ls=L new=1", "a"), "a", "atk.1"),
			held(put(op("atk", Put, "a", 10, 60, OK, "ls=L new=0", ""), "x", "atk.2"), 50),
			op("victim", Login, "a", 20, 30, OK, "ls=L new=0", "v"),
			get(op("victim", Get, "v", 70, 75, OK, "ls=L new=0 v=atk.2", ""), "x"),
		}, []string{"fixation"}},
		{"a write made before the login stays with the session", false, []*Op{
			put(op("atk", Put, "", 0, 5, OK, "ls=L new=1", "a"), "a", "atk.1"),
			op("victim", Login, "a", 20, 30, OK, "ls=L new=0", "v"),
			get(op("victim", Get, "v", 70, 75, OK, "ls=L new=0 v=atk.1", ""), "a"),
		}, nil},
		{"a failed write that started a new session is read there", true, []*Op{
			put(op("b", Put, "", 0, 5, OK, "ls=L new=1", "c"), "a", "b.1"),
			op("b", Login, "c", 10, 20, Failed, "error", ""),
			put(op("b", Put, "c", 30, 35, Failed, "error", "d"), "a", "b.2"),
			get(op("b", Get, "d", 40, 45, OK, "ls=M new=0 v=b.2", ""), "a"),
		}, nil},
		{"the pre-login token logs the victim out", false, []*Op{
			put(op("atk", Put, "", 0, 5, OK, "ls=L new=1", "a"), "a", "atk.1"),
			op("victim", Login, "a", 20, 30, OK, "ls=L new=0", "v"),
			op("atk", Logout, "a", 40, 45, OK, "ok=1", "-"),
			op("victim", Whoami, "v", 70, 75, OK, "ls=M new=1 u=", "w"),
		}, []string{"lost"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := Check(hist(tc.ops...), tc.bytes)
			got := checks(rep)
			for _, w := range tc.want {
				if !slices.Contains(got, w) {
					t.Errorf("want a %q violation; got %v", w, got)
				}
			}
			if tc.want == nil && len(got) > 0 {
				for _, v := range rep.Violations {
					t.Log(v)
				}
				t.Errorf("a legal history was judged a violation: %v", got)
			}
		})
	}
}

// TestCounterWindow: the window of a lost increment is the two requests
// that answered the same count, not the history before them.
func TestCounterWindow(t *testing.T) {
	ops := []*Op{
		op("b", Incr, "", 0, 5, OK, "ls=L new=1 n=1", "c"),
		op("b", Incr, "c", 10, 15, OK, "ls=L new=0 n=2", ""),
		op("b", Incr, "c", 20, 25, OK, "ls=L new=0 n=3", ""),
		op("b", Incr, "c", 30, 50, OK, "ls=L new=0 n=4", ""),
		op("b", Incr, "c", 35, 45, OK, "ls=L new=0 n=4", ""),
		op("b", Incr, "c", 60, 65, OK, "ls=L new=0 n=5", ""),
	}
	rep := Check(hist(ops...), false)
	if len(rep.Violations) != 1 || rep.Violations[0].Check != "counter" {
		t.Fatalf("violations %v; want one of the counter", checks(rep))
	}
	w := rep.Violations[0].Window
	if len(w) != 2 || w[0] != ops[3] || w[1] != ops[4] {
		t.Errorf("window:\n%s\nwant the two requests that answered 4", rep.Violations[0])
	}
}
