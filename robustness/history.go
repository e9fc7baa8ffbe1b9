package robustness

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Kind is what a request asks of its session.
type Kind string

// The operations the virtual browsers do.
const (
	Put    Kind = "put"    // set key k to a value unique to this request
	Get    Kind = "get"    // read key k
	Incr   Kind = "incr"   // add one to the counter "n"
	Blind  Kind = "blind"  // Incr without reading anything else first (native)
	Login  Kind = "login"  // renew the token and record the user
	Logout Kind = "logout" // end the session
	Revoke Kind = "revoke" // end every session of a user (native)
	Whoami Kind = "whoami" // read the user
)

// Status is how a request ended, as its browser saw it.
type Status int

// Statuses of a request.
const (
	OK     Status = iota // answered 200: acknowledged
	Failed               // an error answer, or no answer: it may or may not have taken effect
	Ended                // the app said the session ended during the request: nothing was written
)

func (s Status) String() string {
	return [...]string{"ok", "FAILED", "ended"}[s]
}

// Op is one request of the history: who sent it with which cookie, what it
// asked, when, and what came back.
type Op struct {
	ID       int
	Actor    string // the browser (or attacker) that sent it
	Instance int    // the app instance that served it
	Kind     Kind
	Key      string // Put, Get
	Value    string // Put: the value written, unique to this request
	User     string // Login, Revoke

	Cookie string // the session cookie sent; "" none
	SetTo  string // the session cookie the response set: "" unchanged, "-" cleared

	Call, Return time.Duration // since the run began
	Held         bool          // the handler waited for the harness before returning
	Release      time.Duration // when the harness let a held request go on

	Status Status
	Answer map[string]string // the app's answer: ls (the session's own id), new, v, n, u
	Raw    string            // the answer as sent, or the error
}

// LS is the logical session the answer reports ("" when none), and whether
// the request found the session without one (a session it started).
func (o *Op) LS() (ls string, fresh bool) {
	return o.Answer["ls"], o.Answer["new"] == "1"
}

// effect is the earliest time the request's writes can have reached the
// database: a held request writes only after its release.
func (o *Op) effect() time.Duration {
	if o.Held && o.Release > o.Call {
		return o.Release
	}
	return o.Call
}

func (o *Op) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "#%-5d %9.3fs..%9.3fs %-9s app%d %-6s", o.ID, o.Call.Seconds(), o.Return.Seconds(), o.Actor, o.Instance, o.Kind)
	switch o.Kind {
	case Put:
		fmt.Fprintf(&b, " %s=%s", o.Key, o.Value)
	case Get:
		fmt.Fprintf(&b, " %s", o.Key)
	case Login, Revoke:
		fmt.Fprintf(&b, " %s", o.User)
	}
	fmt.Fprintf(&b, " cookie=%s", short(o.Cookie))
	if o.Held {
		fmt.Fprintf(&b, " held-until=%.3fs", o.Release.Seconds())
	}
	fmt.Fprintf(&b, " -> %s %q", o.Status, o.Raw)
	if o.SetTo != "" {
		fmt.Fprintf(&b, " set-cookie=%s", short(o.SetTo))
	}
	return b.String()
}

// short shows enough of a cookie to tell cookies apart in a report.
func short(c string) string {
	switch {
	case c == "":
		return "none"
	case c == "-":
		return "cleared"
	case len(c) > 10:
		return c[:10] + "…"
	}
	return c
}

// Fault is one fault the harness injected.
type Fault struct {
	At   time.Duration
	What string
}

// History is what a run recorded. It is safe for concurrent use while the
// run goes on.
type History struct {
	start time.Time

	mu     sync.Mutex
	ops    []*Op
	faults []Fault
}

func newHistory() *History { return &History{start: time.Now()} }

func (h *History) now() time.Duration { return time.Since(h.start) }

// begin records the invocation of o and gives it an ID.
func (h *History) begin(o *Op) {
	h.mu.Lock()
	o.ID = len(h.ops)
	o.Call = h.now()
	h.ops = append(h.ops, o)
	h.mu.Unlock()
}

func (h *History) end(o *Op) {
	t := h.now()
	h.mu.Lock()
	o.Return = t
	h.mu.Unlock()
}

func (h *History) fault(format string, args ...any) {
	t := h.now()
	h.mu.Lock()
	h.faults = append(h.faults, Fault{At: t, What: fmt.Sprintf(format, args...)})
	h.mu.Unlock()
}

// Ops returns the recorded requests in invocation order.
func (h *History) Ops() []*Op {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := append([]*Op(nil), h.ops...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Call < out[j].Call })
	return out
}

// Faults returns the injected faults in order.
func (h *History) Faults() []Fault {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Fault(nil), h.faults...)
}
