package robustness

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/anishathalye/porcupine"
)

// Violation is one way a history breaks the face's contract.
type Violation struct {
	Check  string // which check: counter, ended, lost, mixed, fixation, resurrection
	What   string
	Window []*Op // the shortest stretch of the history that shows it
}

func (v Violation) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s] %s\n", v.Check, v.What)
	if len(v.Window) > 0 {
		fmt.Fprintf(&b, "  window: %d requests, %.3fs..%.3fs\n", len(v.Window), v.Window[0].Call.Seconds(), v.Window[len(v.Window)-1].Return.Seconds())
		for _, o := range v.Window {
			fmt.Fprintf(&b, "    %s\n", o)
		}
	}
	return b.String()
}

// Report is the checker's verdict on one history.
type Report struct {
	Ops, Acked, Failed int
	Faults             int
	Sessions           int // logical sessions whose counter was checked
	EndedProbes        int // acknowledged requests sent with a cookie already ended
	ValueReads         int // acknowledged reads that returned a value, each traced to its write
	Undecided          int // counters porcupine could not decide in time
	Violations         []Violation
}

// endEvent is a request that ended (certain) or may have ended a cookie's
// session.
type endEvent struct {
	op      *Op
	certain bool
	at      time.Duration // certain: acknowledged at; maybe: from
}

// Check decides h against the contract of a face (bytes: a byte-level
// one). The checks:
//
//   - counter: each logical session's counter is linearizable (porcupine):
//     no acknowledged increment lost or applied twice;
//   - ended: a request sent with a cookie after a logout, renewal or
//     revocation of its session was acknowledged finds no session
//     (ended stays ended);
//   - lost: a session that nothing ended is never found missing;
//   - mixed: a cookie is only ever served its own session's data, and a
//     read returns only values written into the session it reads;
//   - fixation / resurrection: a write sent with a token that was ended
//     before the write could take effect is never read back, through the
//     renewed cookie (fixation) or the old one (resurrection).
func Check(h *History, bytes bool) Report {
	ops := h.Ops()
	rep := Report{Ops: len(ops), Faults: len(h.Faults())}
	for _, o := range ops {
		if o.Status == OK {
			rep.Acked++
		} else if o.Status == Failed {
			rep.Failed++
		}
	}
	byReturn := append([]*Op(nil), ops...)
	sort.SliceStable(byReturn, func(i, j int) bool { return byReturn[i].Return < byReturn[j].Return })

	// The logical session of each cookie: the ls reported by the
	// acknowledged response that set it. A blind increment starts a
	// session without one: "?" until a later request names it.
	lsOf := map[string]string{}
	userOf := map[string]*Op{} // cookie -> the login that set it
	for _, o := range byReturn {
		if o.SetTo == "" || o.SetTo == "-" {
			continue
		}
		if o.Status == OK {
			if ls := o.Answer["ls"]; ls != "" {
				lsOf[o.SetTo] = ls
			} else if _, ok := lsOf[o.SetTo]; !ok {
				lsOf[o.SetTo] = "?"
			}
			if o.Kind == Login {
				userOf[o.SetTo] = o
			}
		}
	}
	for _, o := range byReturn { // cookies set by responses that failed, learned on use
		if ls, fresh := o.LS(); o.Cookie != "" && ls != "" && (lsOf[o.Cookie] == "" || lsOf[o.Cookie] == "?") {
			if !fresh || lsOf[o.Cookie] == "?" {
				lsOf[o.Cookie] = ls
			}
		}
	}

	// End events per cookie.
	ends := map[string][]endEvent{}
	for _, o := range ops {
		switch o.Kind {
		case Logout:
			if o.Cookie == "" {
				continue
			}
			if o.Status == OK {
				ends[o.Cookie] = append(ends[o.Cookie], endEvent{o, true, o.Return})
			} else {
				ends[o.Cookie] = append(ends[o.Cookie], endEvent{o, false, o.Call})
			}
		case Login:
			if o.Cookie == "" || o.Status == Ended {
				continue
			}
			if o.Status == OK && o.SetTo != "" && o.SetTo != "-" {
				ends[o.Cookie] = append(ends[o.Cookie], endEvent{o, true, o.Return})
			} else {
				ends[o.Cookie] = append(ends[o.Cookie], endEvent{o, false, o.Call})
			}
		case Revoke:
			for c, login := range userOf {
				if login.User != o.User || login.Call > o.Return {
					continue
				}
				if o.Status == OK && login.Return < o.Call {
					ends[c] = append(ends[c], endEvent{o, true, o.Return})
				} else {
					ends[c] = append(ends[c], endEvent{o, false, o.Call})
				}
			}
		}
	}
	endedBefore := func(c string, t time.Duration) *endEvent { // certainly ended before t
		for i, e := range ends[c] {
			if e.certain && e.at < t {
				return &ends[c][i]
			}
		}
		return nil
	}
	mayHaveEnded := func(c string, t time.Duration) *endEvent { // some end began before t
		for i, e := range ends[c] {
			if e.op.Call < t {
				return &ends[c][i]
			}
		}
		return nil
	}

	seen := map[string]bool{}
	add := func(check, what string, window ...*Op) {
		if seen[check] && len(rep.Violations) > 20 {
			return
		}
		seen[check] = true
		sort.SliceStable(window, func(i, j int) bool { return window[i].Call < window[j].Call })
		rep.Violations = append(rep.Violations, Violation{Check: check, What: what, Window: window})
	}
	// the request that set cookie c (for windows)
	setter := map[string]*Op{}
	for _, o := range byReturn {
		if o.SetTo != "" && o.SetTo != "-" && setter[o.SetTo] == nil {
			setter[o.SetTo] = o
		}
	}
	// the cookie each login renewed from, and the requests sent with each cookie
	pred := map[string]string{}
	withCookie := map[string][]*Op{}
	for _, o := range ops {
		if o.Kind == Login && o.Status == OK && o.SetTo != "" && o.SetTo != "-" && o.Cookie != "" {
			pred[o.SetTo] = o.Cookie
		}
		if o.Cookie != "" {
			withCookie[o.Cookie] = append(withCookie[o.Cookie], o)
		}
	}
	win := func(os ...*Op) []*Op {
		var out []*Op
		for _, o := range os {
			if o != nil && !slices.Contains(out, o) {
				out = append(out, o)
			}
		}
		return out
	}
	// inFlight adds to a window the requests sent with cookie c (or the
	// cookie it was renewed from) that were in flight during [from, to]:
	// the suspects.
	inFlight := func(w []*Op, c string, from, to time.Duration) []*Op {
		for _, cc := range []string{c, pred[c]} {
			for _, o := range withCookie[cc] {
				if cc != "" && o.Call < to && o.Return > from && !slices.Contains(w, o) {
					w = append(w, o)
				}
			}
		}
		return w
	}

	// ended, lost, mixed: per request.
	for _, o := range ops {
		if o.Cookie == "" || o.Status != OK {
			continue
		}
		x := lsOf[o.Cookie]
		ls, fresh := o.LS()
		if endedBefore(o.Cookie, o.Call) != nil {
			rep.EndedProbes++
		}
		served := ls != "" && !fresh
		if fresh && o.Kind == Blind || o.Kind == Incr {
			if n := o.Answer["n"]; fresh && n != "1" {
				add("mixed", fmt.Sprintf("request #%d started a new session whose counter was already %s", o.ID, n), win(setter[o.Cookie], o)...)
			}
		}
		if served {
			if e := endedBefore(o.Cookie, o.Call); e != nil {
				add("ended", fmt.Sprintf("request #%d (%s) was served session %s after request #%d ended it (acknowledged at %.3fs): ended did not stay ended", o.ID, o.Actor, orUnknown(ls), e.op.ID, e.at.Seconds()), inFlight(win(setter[o.Cookie], e.op, o), o.Cookie, e.at, o.Call)...)
			}
			if ls != "" && x != "" && x != "?" && ls != x {
				add("mixed", fmt.Sprintf("request #%d sent a cookie of session %s and was served session %s's data", o.ID, x, ls), win(setter[o.Cookie], o)...)
			}
		}
		if fresh && x != "" && x != "?" && mayHaveEnded(o.Cookie, o.Return) == nil {
			w := win(setter[o.Cookie], o)
			if s := setter[o.Cookie]; s != nil {
				w = inFlight(w, o.Cookie, s.Call, o.Call)
			}
			add("lost", fmt.Sprintf("request #%d (%s) found no session for a cookie of session %s, which no request ended", o.ID, o.Actor, x), w...)
		}
	}

	// Values: where each one was written, and whether it may be read.
	puts := map[string]*Op{}
	for _, o := range ops {
		if o.Kind == Put {
			puts[o.Value] = o
		}
	}
	for _, g := range ops {
		v := g.Answer["v"]
		if g.Status != OK || v == "" {
			continue
		}
		rep.ValueReads++
		p := puts[v]
		if p == nil {
			add("mixed", fmt.Sprintf("request #%d read %q, which no request wrote", g.ID, v), g)
			continue
		}
		gls, _ := g.LS()
		pls, pfresh := p.LS()
		switch {
		case pls != "":
		case p.SetTo != "" && p.SetTo != "-":
			// no answer, but a new cookie: the write went to the session
			// the request started
			pls, pfresh = lsOf[p.SetTo], true
		default:
			pls = lsOf[p.Cookie]
		}
		if pls != "" && pls != "?" && gls != pls {
			add("mixed", fmt.Sprintf("request #%d read session %s and found %q, written into session %s by request #%d", g.ID, gls, v, pls, p.ID), win(setter[p.Cookie], p, setter[g.Cookie], g)...)
		}
		if p.Cookie == "" || pfresh {
			continue
		}
		if e := endedBefore(p.Cookie, p.effect()); e != nil {
			check, how := "fixation", "through a renewed cookie"
			if g.Cookie == p.Cookie {
				check, how = "resurrection", "through the same, ended cookie"
			}
			add(check, fmt.Sprintf("request #%d (%s) read %q %s: request #%d wrote it with a token that request #%d had ended (acknowledged at %.3fs) before the write could take effect (%.3fs)", g.ID, g.Actor, v, how, p.ID, e.op.ID, e.at.Seconds(), p.effect().Seconds()), win(setter[p.Cookie], p, e.op, g)...)
		}
	}

	// Counters, per logical session.
	counters := map[string][]porcupine.Operation{}
	opOf := map[string][]*Op{}
	for _, o := range ops {
		if o.Kind != Incr && o.Kind != Blind && !(bytes && o.Status == Failed && o.Kind != Logout && o.Kind != Login && o.Kind != Revoke) {
			continue
		}
		ls, _ := o.LS()
		if ls == "" && o.Status != OK {
			// a failed request counts against the session of the cookie it
			// sent, or of the one its answer set (a session it started)
			ls = lsOf[o.Cookie]
			if l := lsOf[o.SetTo]; o.SetTo != "" && o.SetTo != "-" && l != "" {
				ls = l
			}
		}
		if ls == "" || ls == "?" {
			continue
		}
		var in counterInput
		ret := int64(o.Return)
		n, _ := strconv.ParseInt(o.Answer["n"], 10, 64)
		switch {
		case o.Status == Ended:
			continue
		case o.Status == Failed && bytes:
			in, ret = counterInput{kind: "unknown"}, math.MaxInt64
		case o.Status == Failed:
			if o.Kind != Incr && o.Kind != Blind {
				continue
			}
			in, ret = counterInput{kind: "maybe-inc"}, math.MaxInt64
		case bytes && o.Cookie != "" && mayHaveEnded(o.Cookie, o.Return) != nil:
			in = counterInput{kind: "maybe-set", v: n}
		default:
			in = counterInput{kind: "inc", v: n}
		}
		counters[ls] = append(counters[ls], porcupine.Operation{ClientId: len(opOf[ls]), Input: in, Call: int64(o.Call), Return: ret})
		opOf[ls] = append(opOf[ls], o)
	}
	lss := make([]string, 0, len(counters))
	for ls := range counters {
		lss = append(lss, ls)
	}
	sort.Strings(lss)
	model := counterModel.ToModel()
	for _, ls := range lss {
		hist := counters[ls]
		for i := range hist {
			hist[i].ClientId = i
		}
		rep.Sessions++
		res := porcupine.CheckOperationsTimeout(model, hist, 10*time.Second)
		switch res {
		case porcupine.Unknown:
			rep.Undecided++
		case porcupine.Illegal:
			// the request that started the session, then where it got stuck
			w := counterWindow(opOf[ls], hist)
			if w[0] == opOf[ls][0] { // from the start: with the request that started the session
				w = win(append([]*Op{setter[w[0].Cookie]}, w...)...)
			}
			add("counter", fmt.Sprintf("session %s: its counter history is not linearizable (an increment lost or applied twice)", ls), w...)
		}
	}
	return rep
}

func orUnknown(s string) string {
	if s == "" {
		return "(unnamed)"
	}
	return s
}

// counterInput is one request's step of a session's counter.
type counterInput struct {
	kind string // inc: acknowledged, v the new value; maybe-inc: may have added one; maybe-set: may have written v; unknown: may have written anything
	v    int64
}

const unknownCount = int64(-1)

// counterModel: the state is the counter (unknownCount after a byte-level
// request that failed: its commit may still land, with whatever it read).
var counterModel = porcupine.NondeterministicModel{
	Init: func() []any { return []any{int64(0)} },
	Step: func(state, input, _ any) []any {
		s, in := state.(int64), input.(counterInput)
		switch in.kind {
		case "inc":
			if s == unknownCount || in.v == s+1 {
				return []any{in.v}
			}
			return nil
		case "maybe-inc":
			if s == unknownCount {
				return []any{s}
			}
			return []any{s, s + 1}
		case "maybe-set":
			return []any{s, in.v}
		default:
			return []any{unknownCount}
		}
	},
	DescribeOperation: func(input, _ any) string {
		in := input.(counterInput)
		return fmt.Sprintf("%s %d", in.kind, in.v)
	},
}

// counterWindow is the shortest failing window of a counter's history
// that ends where the history first fails: the requests from i to j (by
// invocation), found by growing j from the start until the window from 0
// fails, then shrinking it from the front as long as it still fails.
//
// A window that starts after the first request starts from an unknown
// counter, requests still in flight at its start are kept with their
// answers unknown, and so are its requests still in flight when a request
// after it began: each such cut only allows more, so a window that fails
// proves the whole history fails. Histories of more than 300 requests are
// shown whole.
func counterWindow(ops []*Op, hist []porcupine.Operation) []*Op {
	n := len(hist)
	if n > 300 {
		return ops
	}
	fails := func(i, j int) bool {
		cut := int64(math.MaxInt64)
		if j+1 < n {
			cut = hist[j+1].Call
		}
		var w []porcupine.Operation
		for k := 0; k <= j; k++ {
			op := hist[k]
			switch {
			case k < i && op.Return < hist[i].Call:
				continue
			case k < i || op.Return > cut:
				op.Input = counterInput{kind: "unknown"}
			}
			op.ClientId = len(w)
			w = append(w, op)
		}
		m := counterModel
		if i > 0 {
			m.Init = func() []any { return []any{unknownCount} }
		}
		return porcupine.CheckOperationsTimeout(m.ToModel(), w, 10*time.Second) == porcupine.Illegal
	}
	j := 0
	for j < n-1 && !fails(0, j) {
		j++
	}
	i := j
	for i > 0 && !fails(i, j) {
		i--
	}
	var out []*Op
	for k := 0; k <= j; k++ {
		if k >= i || hist[k].Return >= hist[i].Call {
			out = append(out, ops[k])
		}
	}
	return out
}
