// Command mongosession-soak is a bounded load generator for the examples:
// N concurrent clients, each with its own cookie jar (one session each),
// request a URL in a loop for a fixed duration and then stop. It reads the
// app's expvar (/debug/vars: memstats and a goroutine count, as
// examples/hello -debug serves them on its own loopback address,
// 127.0.0.1:6060) at the start and every interval, and
// prints requests, errors, p50/p99 latency, heap and goroutines for every
// interval (the first and the last compared), and once more a second after
// the load stops, so that a leak or a slowdown shows.
//
//	go run ./examples/hello -debug &
//	go run ./cmd/mongosession-soak -clients 64 -duration 60s
//
// It only talks to loopback addresses, runs at most -duration (capped at
// 30 minutes) with at most 1024 clients, and exits 1 when any request
// failed or a session lost a view. With bodies of the form
// Hello {"views":N}, it also checks that each client's count goes up by
// one per request: a lost write is an error ("lost"). A request that
// failed may still have committed before failing (its answer lost), so
// after k failures the count may go up by 1 to k+1.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"sync"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Bounds that keep the soak a soak.
const (
	maxClients  = 1024
	maxDuration = 30 * time.Minute
)

type config struct {
	url      string
	vars     string
	clients  int
	duration time.Duration
	interval time.Duration
	timeout  time.Duration
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var c config
	fs := flag.NewFlagSet("mongosession-soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.url, "url", "http://localhost:3000/", "page to request (loopback only)")
	fs.StringVar(&c.vars, "vars", defaultVars, "expvar URL (default: examples/hello -debug's; \"off\" to skip)")
	fs.IntVar(&c.clients, "clients", 64, "concurrent clients, each with its own session")
	fs.DurationVar(&c.duration, "duration", 60*time.Second, "how long to run")
	fs.DurationVar(&c.interval, "interval", 10*time.Second, "window for figures and expvar readings")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "bound on each request (a hang counts as an error)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := c.check(); err != nil {
		fmt.Fprintln(stderr, "mongosession-soak:", err)
		return 2
	}
	rep, err := soak(ctx, c, stdout)
	if err != nil {
		fmt.Fprintln(stderr, "mongosession-soak:", err)
		return 1
	}
	if rep.errors > 0 || rep.mismatches > 0 {
		return 1
	}
	return 0
}

func (c *config) check() error {
	switch {
	case c.clients < 1 || c.clients > maxClients:
		return fmt.Errorf("-clients must be 1 to %d", maxClients)
	case c.duration <= 0 || c.duration > maxDuration:
		return fmt.Errorf("-duration must be positive and at most %v", maxDuration)
	case c.interval <= 0 || c.interval > c.duration:
		return errors.New("-interval must be positive and at most -duration")
	case c.timeout <= 0:
		return errors.New("-timeout must be positive")
	}
	u, err := url.Parse(c.url)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("-url %q is not an http(s) URL", c.url)
	}
	if err := loopback(u); err != nil {
		return err
	}
	if c.vars == "off" {
		return nil
	}
	v, err := url.Parse(c.vars)
	if err != nil || v.Host == "" {
		return fmt.Errorf("-vars %q is not a URL", c.vars)
	}
	return loopback(v)
}

// defaultVars is where examples/hello -debug serves its expvar: a loopback
// address of its own, never the app's public listener.
const defaultVars = "http://127.0.0.1:6060/debug/vars"

// loopback refuses any host that is not this machine's loopback: a soak
// is a load test, never to be pointed at someone else's server.
func loopback(u *url.URL) error {
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%s is not a loopback address (localhost, 127.0.0.0/8, ::1): the soak only loads this machine", u.Host)
}

// stayLocal refuses a redirect off loopback: the first URL is checked, and
// so must be every one a response sends the clients to.
func stayLocal(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	return loopback(req.URL)
}

// window collects the figures of one interval.
type window struct {
	requests, errors, mismatches int
	latencies                    []time.Duration
	firstErr                     string
}

func (w *window) add(lat time.Duration, err error, mismatch bool) {
	w.requests++
	w.latencies = append(w.latencies, lat)
	if err != nil {
		w.errors++
		if w.firstErr == "" {
			w.firstErr = err.Error()
		}
	}
	if mismatch {
		w.mismatches++
	}
}

func (w *window) merge(o *window) {
	w.requests += o.requests
	w.errors += o.errors
	w.mismatches += o.mismatches
	w.latencies = append(w.latencies, o.latencies...)
	if w.firstErr == "" {
		w.firstErr = o.firstErr
	}
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p * float64(len(sorted)-1))
	return sorted[i]
}

// sample is one reading of /debug/vars.
type sample struct {
	at         time.Duration
	label      string
	heapAlloc  uint64
	heapInuse  uint64
	sys        uint64
	numGC      uint32
	goroutines int
	err        error
}

type report struct {
	errors, mismatches int
}

var viewsRe = regexp.MustCompile(`"views":(\d+)`)

func soak(ctx context.Context, c config, out io.Writer) (report, error) {
	tr := &http.Transport{MaxIdleConns: c.clients + 4, MaxIdleConnsPerHost: c.clients + 4, IdleConnTimeout: 30 * time.Second}
	defer tr.CloseIdleConnections()
	varsClient := &http.Client{Transport: tr, Timeout: c.timeout, CheckRedirect: stayLocal}

	start := time.Now()
	var samples []sample
	read := func(label string) {
		if c.vars != "off" {
			s := readVars(ctx, varsClient, c.vars)
			s.at, s.label = time.Since(start), label
			samples = append(samples, s)
		}
	}
	read("start")
	if len(samples) > 0 && samples[0].err != nil {
		return report{}, fmt.Errorf("reading %s: %w (start the app with -debug, or pass -vars off)", c.vars, samples[0].err)
	}

	nWin := int((c.duration + c.interval - 1) / c.interval)
	var mu sync.Mutex
	wins := make([]window, nWin)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var wg sync.WaitGroup
	for i := 0; i < c.clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			jar, _ := cookiejar.New(nil)
			client := &http.Client{Transport: tr, Jar: jar, Timeout: c.timeout, CheckRedirect: stayLocal}
			last, failed := -1, 0 // views seen last (-1 before the first answer); failures since
			for rctx.Err() == nil {
				t0 := time.Now()
				views, err := get(rctx, client, c.url)
				lat := time.Since(t0)
				if rctx.Err() != nil && err != nil {
					return // cut short by the end of the run, not a failure
				}
				mismatch := false
				switch {
				case err != nil:
					failed++
				case views >= 0:
					mismatch = last >= 0 && (views <= last || views > last+1+failed)
					last, failed = views, 0
				}
				w := min(int(t0.Sub(start)/c.interval), nWin-1)
				mu.Lock()
				wins[w].add(lat, err, mismatch)
				mu.Unlock()
			}
		}()
	}
	// A reading at the end of each window, the last one still under load.
	for k := 1; k <= nWin; k++ {
		t := time.NewTimer(time.Until(start.Add(min(time.Duration(k)*c.interval, c.duration))))
		select {
		case <-ctx.Done():
			t.Stop()
		case <-t.C:
			read("load")
		}
	}
	cancel()
	wg.Wait()
	elapsed := time.Since(start)
	if ctx.Err() != nil {
		return report{}, ctx.Err()
	}
	// And one after the load, its connections closed: what is left then
	// would stay for good.
	tr.CloseIdleConnections()
	time.Sleep(time.Second)
	read("idle")

	var all window
	for i := range wins {
		all.merge(&wins[i])
	}
	fmt.Fprintf(out, "soak: %d clients for %v against %s\n", c.clients, c.duration, c.url)
	fmt.Fprintf(out, "%-10s %9s %7s %7s %10s %10s\n", "window", "requests", "errors", "lost", "p50", "p99")
	for i := range wins {
		printWindow(out, fmt.Sprintf("%v-%v", time.Duration(i)*c.interval, min(time.Duration(i+1)*c.interval, c.duration)), &wins[i])
	}
	printWindow(out, "total", &all)
	fmt.Fprintf(out, "throughput: %.0f requests/s\n", float64(all.requests)/elapsed.Seconds())
	if all.firstErr != "" {
		fmt.Fprintf(out, "first error: %s\n", all.firstErr)
	}
	if len(samples) > 0 {
		fmt.Fprintf(out, "%-14s %12s %12s %12s %6s %10s\n", "expvar", "heapAlloc", "heapInuse", "sys", "numGC", "goroutines")
		for _, s := range samples {
			name := fmt.Sprintf("%v %s", s.at.Round(100*time.Millisecond), s.label)
			if s.err != nil {
				fmt.Fprintf(out, "%-14s error: %v\n", name, s.err)
				continue
			}
			fmt.Fprintf(out, "%-14s %12s %12s %12s %6d %10d\n", name, mib(s.heapAlloc), mib(s.heapInuse), mib(s.sys), s.numGC, s.goroutines)
		}
		if len(samples) >= 4 {
			st, first, last, idle := samples[0], samples[1], samples[len(samples)-2], samples[len(samples)-1]
			if st.err == nil && first.err == nil && last.err == nil && idle.err == nil {
				fmt.Fprintf(out, "under load, first -> last window: heapInuse %s -> %s, goroutines %d -> %d; idle: goroutines %d at the start, %d after\n",
					mib(first.heapInuse), mib(last.heapInuse), first.goroutines, last.goroutines, st.goroutines, idle.goroutines)
			}
		}
	}
	return report{errors: all.errors, mismatches: all.mismatches}, nil
}

func printWindow(out io.Writer, name string, w *window) {
	slices.Sort(w.latencies)
	fmt.Fprintf(out, "%-10s %9d %7d %7d %10v %10v\n", name, w.requests, w.errors, w.mismatches,
		percentile(w.latencies, 0.50).Round(10*time.Microsecond), percentile(w.latencies, 0.99).Round(10*time.Microsecond))
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// get requests u and returns the views count in the body, or -1 when the
// body has none. A status other than 200 is an error.
func get(ctx context.Context, client *http.Client, u string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return -1, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return -1, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return -1, err
	}
	if resp.StatusCode != http.StatusOK {
		return -1, fmt.Errorf("status %d: %.80s", resp.StatusCode, body)
	}
	m := viewsRe.FindSubmatch(body)
	if m == nil {
		return -1, nil
	}
	var n int
	fmt.Sscan(string(m[1]), &n)
	return n, nil
}

func readVars(ctx context.Context, client *http.Client, u string) sample {
	var v struct {
		Memstats struct {
			HeapAlloc uint64
			HeapInuse uint64
			Sys       uint64
			NumGC     uint32
		} `json:"memstats"`
		Goroutines *int `json:"goroutines"`
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return sample{err: err}
	}
	resp, err := client.Do(req)
	if err != nil {
		return sample{err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return sample{err: fmt.Errorf("status %d", resp.StatusCode)}
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&v); err != nil {
		return sample{err: err}
	}
	if v.Goroutines == nil {
		return sample{err: errors.New(`no "goroutines" variable (examples/hello -debug publishes it)`)}
	}
	return sample{heapAlloc: v.Memstats.HeapAlloc, heapInuse: v.Memstats.HeapInuse, sys: v.Memstats.Sys, numGC: v.Memstats.NumGC, goroutines: *v.Goroutines}
}
