// Command mongosession administers a mongosession sessions collection.
//
// Usage:
//
//	mongosession [flags] <command> [command flags]
//
// Commands for every collection:
//
//	count            number of live (unexpired) sessions
//	stats            live, expired and unreadable documents, sizes, the TTL
//	                 index; for an httpsession collection also the distinct
//	                 users and sessions per user (max, median)
//	delete-expired   delete the documents whose expiry has passed, in batches
//	indexes          list the collection's indexes; -ensure creates the TTL
//	                 index if it is missing (an existing one keeps its
//	                 expireAfterSeconds unless -expire-after D, in whole
//	                 seconds, is given), or reports why it cannot
//	clear            delete every session, in batches; needs -yes
//
// Commands for an httpsession (native) collection:
//
//	sessions -user U                 U's live sessions, newest first
//	revoke-user -user U              end every session of U
//	revoke-session -user U -id ID    end one session, only if it is U's
//	users [-top N]                   the users with the most live sessions
//
// Flags (before or after the command):
//
//	-uri          connection string (default: $MONGODB_URI)
//	-db           database (default: the URI's, else "mongosession")
//	-collection   sessions collection (required)
//	-expires-key  expiry field (default "expires")
//	-timeout      bound on each operation (default 10s)
//	-json         print one JSON document on stdout instead of text
//
// delete-expired and clear take -batch N (documents per delete command,
// default 1000), -pause D (between batches, so that a busy primary keeps
// serving), -progress (a progress bar on stderr even when it is not a
// terminal) and -quiet (no progress bar). By default the bar, with rate
// and ETA, shows when stderr is a terminal. Ctrl-C stops them between two
// batches: they report how many documents were deleted and exit 1. A
// second Ctrl-C stops at once.
//
// It uses the same engine as applications (mongosession.New, the Store's
// methods and httpsession.Manager's Sessions, RevokeUser and
// RevokeSession), so it sees sessions exactly as they do: an expired
// session is neither counted nor listed, whatever the TTL monitor has done.
// It never prints a session token or a secret (a session's ID is its
// Info.ID, not a cookie). Exit status: 0 on success, 1 when an operation
// fails or is interrupted, 2 on a usage error, including a command that
// does not fit the collection's shape.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/mongosession/mongosession"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, the default behaviour again: a second
		// Ctrl-C ends the command at once.
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// config holds the flags.
type config struct {
	uri, db, collection, expiresKey string
	timeout                         time.Duration
	json                            bool
	// command flags
	yes, ensure     bool
	expireAfter     time.Duration
	user, id        string
	top             int
	batch           int
	pause           time.Duration
	progress, quiet bool
}

func (c *config) common(fs *flag.FlagSet) {
	// Not the flag's default: flag prints defaults in its usage text, and
	// $MONGODB_URI may hold a password. run reads it after parsing.
	fs.StringVar(&c.uri, "uri", c.uri, "MongoDB connection string (default $MONGODB_URI)")
	fs.StringVar(&c.db, "db", c.db, `database (default: the URI's, else "mongosession")`)
	fs.StringVar(&c.collection, "collection", c.collection, "sessions collection (required)")
	fs.StringVar(&c.expiresKey, "expires-key", c.expiresKey, "expiry field")
	fs.DurationVar(&c.timeout, "timeout", c.timeout, "bound on each operation")
	fs.BoolVar(&c.json, "json", c.json, "print one JSON document on stdout instead of text")
}

const usage = `usage: mongosession [flags] <command> [command flags]

commands:
  count            number of live (unexpired) sessions
  stats            live, expired and unreadable documents, sizes, the TTL index,
                   users and sessions per user (httpsession collections)
  delete-expired   delete the documents whose expiry has passed, in batches
  indexes          list the collection's indexes (-ensure: create the TTL index)
  clear            delete every session, in batches (-yes to confirm)

commands for an httpsession collection:
  sessions -user U                 U's live sessions, newest first
  revoke-user -user U              end every session of U
  revoke-session -user U -id ID    end one session, only if it is U's
  users [-top N]                   the users with the most live sessions

flags:
`

// env is what a command runs with.
type env struct {
	s      *mongosession.Store
	c      *config
	name   string
	stderr io.Writer
	// shape is the collection's, for the native commands.
	shape string
}

// A command returns what it prints: a value that marshals to the -json
// document and writes itself as text.
type command struct {
	run func(ctx context.Context, e *env) (result, error)
	// native: the command needs an httpsession collection.
	native bool
	flags  func(fs *flag.FlagSet, c *config)
}

type result interface{ text(w io.Writer) error }

var commands = map[string]command{
	"count":   {run: count},
	"stats":   {run: stats},
	"indexes": {run: indexes, flags: indexFlags},
	"delete-expired": {run: deleteExpired, flags: func(fs *flag.FlagSet, c *config) {
		batchFlags(fs, c)
	}},
	"clear": {run: clearAll, flags: func(fs *flag.FlagSet, c *config) {
		fs.BoolVar(&c.yes, "yes", false, "confirm: delete every session in the collection")
		batchFlags(fs, c)
	}},
	"sessions": {run: sessions, native: true, flags: func(fs *flag.FlagSet, c *config) {
		fs.StringVar(&c.user, "user", "", "the user whose sessions to list (required)")
	}},
	"revoke-user": {run: revokeUser, native: true, flags: func(fs *flag.FlagSet, c *config) {
		fs.StringVar(&c.user, "user", "", "the user whose sessions to end (required)")
	}},
	"revoke-session": {run: revokeSession, native: true, flags: func(fs *flag.FlagSet, c *config) {
		fs.StringVar(&c.user, "user", "", "the session's user (required)")
		fs.StringVar(&c.id, "id", "", "the session's ID, as sessions lists it (required)")
	}},
	"users": {run: users, native: true, flags: func(fs *flag.FlagSet, c *config) {
		fs.IntVar(&c.top, "top", 10, fmt.Sprintf("how many users to list (at most %d)", maxTop))
	}},
}

// monitor, when set (by tests), watches the commands the store's client
// sends.
var monitor *event.CommandMonitor

// run parses args, runs the command and returns the exit status.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	c := config{expiresKey: mongosession.DefaultExpiresKey, timeout: 10 * time.Second}
	top := flag.NewFlagSet("mongosession", flag.ContinueOnError)
	top.SetOutput(stderr)
	c.common(top)
	top.Usage = func() {
		fmt.Fprint(stderr, usage)
		top.PrintDefaults()
	}
	if err := top.Parse(args); err != nil {
		return usageStatus(err)
	}
	if top.NArg() == 0 {
		top.Usage()
		return 2
	}
	name := top.Arg(0)
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "mongosession: unknown command %q\n", name)
		top.Usage()
		return 2
	}
	sub := flag.NewFlagSet("mongosession "+name, flag.ContinueOnError)
	sub.SetOutput(stderr)
	// The shared flags may also follow the command; they start from the
	// values already parsed.
	c.common(sub)
	if cmd.flags != nil {
		cmd.flags(sub, &c)
	}
	if err := sub.Parse(top.Args()[1:]); err != nil {
		return usageStatus(err)
	}
	if sub.NArg() > 0 {
		fmt.Fprintf(stderr, "mongosession %s: unexpected arguments %q\n", name, sub.Args())
		return 2
	}
	if c.uri == "" {
		c.uri = getenv("MONGODB_URI")
	}
	explicitExpireAfter := false
	sub.Visit(func(f *flag.Flag) { explicitExpireAfter = explicitExpireAfter || f.Name == "expire-after" })
	if msg := c.check(name, explicitExpireAfter); msg != "" {
		fmt.Fprintln(stderr, msg)
		return 2
	}

	// Only "indexes -ensure" creates the TTL index: no command changes the
	// collection's expiry behind the operator's back.
	mode := mongosession.AutoRemoveOff
	if c.ensure {
		mode = mongosession.AutoRemoveTTL
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if c.ensure {
		// New repairs a TTL index whose expireAfterSeconds differs from
		// ExpireAfter: keep the existing value unless -expire-after asks
		// for another, and say so when it does.
		if code := c.keepTTL(ctx, logger, stdout, stderr, explicitExpireAfter); code != 0 {
			return code
		}
	}
	opts := mongosession.Options{
		URI: c.uri, Database: c.db, Collection: c.collection, ExpiresKey: c.expiresKey,
		ExpireAfter: c.expireAfter, AutoRemove: mode, Timeout: c.timeout, Logger: logger,
		// A long period: the admin command exits long before a reaper
		// (the TTL fallback) would run.
		CleanupInterval: time.Hour,
	}
	if monitor != nil {
		opts.ClientOptions = options.Client().SetMonitor(monitor)
	}
	s, err := mongosession.New(ctx, opts)
	if err != nil {
		return openFailed(err, stderr)
	}
	defer s.Close()
	e := &env{s: s, c: &c, name: name, stderr: stderr}
	if cmd.native {
		if e.shape, err = requireNative(ctx, s); err != nil {
			fmt.Fprintf(stderr, "mongosession %s: %v\n", name, err)
			var se *shapeError
			if errors.As(err, &se) {
				return 2
			}
			return 1
		}
	}
	res, err := cmd.run(ctx, e)
	if res != nil {
		if perr := emit(stdout, res, c.json); perr != nil && err == nil {
			err = perr
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "mongosession %s: %v\n", name, err)
		return 1
	}
	return 0
}

// check validates the flags once parsed; it returns the usage error's
// line, or "".
func (c *config) check(name string, explicitExpireAfter bool) string {
	switch {
	case explicitExpireAfter && !c.ensure:
		return "mongosession indexes: -expire-after only applies with -ensure"
	case c.expireAfter < 0 || c.expireAfter%time.Second != 0:
		return "mongosession indexes: -expire-after must be whole seconds, not negative"
	case c.uri == "":
		return "mongosession: no connection string: pass -uri or set MONGODB_URI"
	case c.collection == "":
		return "mongosession: -collection is required"
	case c.timeout <= 0:
		return "mongosession: -timeout must be positive"
	case commands[name].native && name != "users" && c.user == "":
		return fmt.Sprintf("mongosession %s: -user is required", name)
	case name == "revoke-session" && c.id == "":
		return "mongosession revoke-session: -id is required (the ID that sessions -user lists)"
	case name == "users" && (c.top < 1 || c.top > maxTop):
		return fmt.Sprintf("mongosession users: -top must be between 1 and %d", maxTop)
	case (name == "delete-expired" || name == "clear") && (c.batch < 1 || c.batch > maxBatch):
		return fmt.Sprintf("mongosession %s: -batch must be between 1 and %d", name, maxBatch)
	case c.pause < 0:
		return fmt.Sprintf("mongosession %s: -pause must not be negative", name)
	case c.progress && c.quiet:
		return fmt.Sprintf("mongosession %s: -progress and -quiet contradict each other", name)
	case name == "clear" && !c.yes:
		return fmt.Sprintf("mongosession: clear deletes every session in collection %q, logging every user out; pass -yes to confirm", c.collection)
	}
	return ""
}

// emit writes res to w as one JSON document or as text.
func emit(w io.Writer, res result, asJSON bool) error {
	if !asJSON {
		return res.text(w)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

// openFailed reports why mongosession.New failed and returns the exit
// status: 2 for invalid options (a usage error), 1 otherwise.
func openFailed(err error, stderr io.Writer) int {
	fmt.Fprintln(stderr, err)
	if errors.Is(err, mongosession.ErrInvalidOptions) {
		return 2
	}
	return 1
}

// usageStatus is the exit status of a flag parsing error: 0 for -h.
func usageStatus(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}
