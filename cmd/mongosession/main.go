// Command mongosession administers a mongosession sessions collection.
//
// Usage:
//
//	mongosession [flags] <command> [command flags]
//
// Commands:
//
//	count            number of live (unexpired) sessions
//	stats            live, expired and unreadable documents, sizes, the TTL index
//	delete-expired   delete the documents whose expiry has passed (what the
//	                 TTL monitor or the store's reaper does)
//	indexes          list the collection's indexes; -ensure creates the TTL
//	                 index if it is missing (an existing one keeps its
//	                 expireAfterSeconds unless -expire-after D, in whole
//	                 seconds, is given), or reports why it cannot
//	clear            delete every session; needs -yes
//
// Flags (before or after the command):
//
//	-uri          connection string (default: $MONGODB_URI)
//	-db           database (default: the URI's, else "mongosession")
//	-collection   sessions collection (required)
//	-expires-key  expiry field (default "expires")
//	-timeout      bound on each operation (default 10s)
//
// It uses the same engine as applications (mongosession.New and the
// Store's methods), so it sees sessions exactly as they do: an expired
// session is not counted, whatever the TTL monitor has done. It never
// prints session tokens. Exit status: 0 on success, 1 when an operation
// fails, 2 on a usage error.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/mongosession/mongosession"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// config holds the flags every command shares.
type config struct {
	uri, db, collection, expiresKey string
	timeout                         time.Duration
	// command flags
	yes, ensure bool
	expireAfter time.Duration
}

func (c *config) common(fs *flag.FlagSet, getenv func(string) string) {
	// Not the flag's default: flag prints defaults in its usage text, and
	// $MONGODB_URI may hold a password. run reads it after parsing.
	fs.StringVar(&c.uri, "uri", "", "MongoDB connection string (default $MONGODB_URI)")
	fs.StringVar(&c.db, "db", "", `database (default: the URI's, else "mongosession")`)
	fs.StringVar(&c.collection, "collection", "", "sessions collection (required)")
	fs.StringVar(&c.expiresKey, "expires-key", mongosession.DefaultExpiresKey, "expiry field")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "bound on each operation")
}

const usage = `usage: mongosession [flags] <command> [command flags]

commands:
  count            number of live (unexpired) sessions
  stats            live, expired and unreadable documents, sizes, the TTL index
  delete-expired   delete the documents whose expiry has passed
  indexes          list the collection's indexes (-ensure: create the TTL index)
  clear            delete every session (-yes to confirm)

flags:
`

var commands = map[string]func(ctx context.Context, s *mongosession.Store, c *config, out io.Writer) error{
	"count":          count,
	"stats":          stats,
	"delete-expired": deleteExpired,
	"indexes":        indexes,
	"clear":          clearAll,
}

// run parses args, runs the command and returns the exit status.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var c config
	top := flag.NewFlagSet("mongosession", flag.ContinueOnError)
	top.SetOutput(stderr)
	c.common(top, getenv)
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
	sub.StringVar(&c.uri, "uri", c.uri, "MongoDB connection string")
	sub.StringVar(&c.db, "db", c.db, "database")
	sub.StringVar(&c.collection, "collection", c.collection, "sessions collection")
	sub.StringVar(&c.expiresKey, "expires-key", c.expiresKey, "expiry field")
	sub.DurationVar(&c.timeout, "timeout", c.timeout, "bound on each operation")
	switch name {
	case "clear":
		sub.BoolVar(&c.yes, "yes", false, "confirm: delete every session in the collection")
	case "indexes":
		sub.BoolVar(&c.ensure, "ensure", false, "create the TTL index on the expiry field if it is missing (an existing one keeps its expireAfterSeconds unless -expire-after is given)")
		sub.DurationVar(&c.expireAfter, "expire-after", 0, "with -ensure: the TTL index's expireAfterSeconds (whole seconds)")
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
	switch {
	case explicitExpireAfter && !c.ensure:
		fmt.Fprintln(stderr, "mongosession indexes: -expire-after only applies with -ensure")
		return 2
	case c.expireAfter < 0 || c.expireAfter%time.Second != 0:
		fmt.Fprintln(stderr, "mongosession indexes: -expire-after must be whole seconds, not negative")
		return 2
	}
	switch {
	case c.uri == "":
		fmt.Fprintln(stderr, "mongosession: no connection string: pass -uri or set MONGODB_URI")
		return 2
	case c.collection == "":
		fmt.Fprintln(stderr, "mongosession: -collection is required")
		return 2
	case c.timeout <= 0:
		fmt.Fprintln(stderr, "mongosession: -timeout must be positive")
		return 2
	case name == "clear" && !c.yes:
		fmt.Fprintf(stderr, "mongosession: clear deletes every session in collection %q, logging every user out; pass -yes to confirm\n", c.collection)
		return 2
	}

	// Only "indexes -ensure" creates an index: no command changes the
	// collection behind the operator's back.
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
	s, err := mongosession.New(ctx, mongosession.Options{
		URI: c.uri, Database: c.db, Collection: c.collection, ExpiresKey: c.expiresKey,
		ExpireAfter: c.expireAfter, AutoRemove: mode, Timeout: c.timeout, Logger: logger,
		// A long period: the admin command exits long before a reaper
		// (the TTL fallback) would run.
		CleanupInterval: time.Hour,
	})
	if err != nil {
		return openFailed(err, stderr)
	}
	defer s.Close()
	if err := cmd(ctx, s, &c, stdout); err != nil {
		fmt.Fprintf(stderr, "mongosession %s: %v\n", name, err)
		return 1
	}
	return 0
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

// keepTTL looks at the collection's TTL index before "indexes -ensure"
// opens the store for real. Without -expire-after it adopts the existing
// index's expireAfterSeconds, so that nothing is changed behind the
// operator's back; with a different -expire-after it says what will
// change. It returns an exit status (0: go on).
func (c *config) keepTTL(ctx context.Context, logger *slog.Logger, stdout, stderr io.Writer, explicit bool) int {
	probe, err := mongosession.New(ctx, mongosession.Options{
		URI: c.uri, Database: c.db, Collection: c.collection, ExpiresKey: c.expiresKey,
		AutoRemove: mongosession.AutoRemoveOff, Timeout: c.timeout, Logger: logger,
	})
	if err != nil {
		return openFailed(err, stderr)
	}
	defer probe.Close()
	idx, err := listIndexes(ctx, probe)
	if err != nil {
		fmt.Fprintf(stderr, "mongosession indexes: %v\n", err)
		return 1
	}
	ttl := ttlIndex(idx, probe.ExpiresKey())
	if ttl == nil {
		return 0
	}
	have := time.Duration(*ttl.ExpireAfterSeconds) * time.Second
	switch {
	case !explicit:
		c.expireAfter = have
	case c.expireAfter != have:
		fmt.Fprintf(stdout, "changing TTL index %s: expireAfterSeconds %d -> %d\n", ttl.Name, *ttl.ExpireAfterSeconds, c.expireAfter/time.Second)
	}
	return 0
}

func count(ctx context.Context, s *mongosession.Store, _ *config, out io.Writer) error {
	n, err := s.Count(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, n)
	return nil
}

func deleteExpired(ctx context.Context, s *mongosession.Store, _ *config, out io.Writer) error {
	n, err := s.DeleteExpired(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "deleted %d expired sessions\n", n)
	return nil
}

func clearAll(ctx context.Context, s *mongosession.Store, _ *config, out io.Writer) error {
	var before int64
	err := s.Do(ctx, "count", func(ctx context.Context, coll *mongo.Collection) (err error) {
		before, err = coll.CountDocuments(ctx, bson.D{})
		return err
	})
	if err != nil {
		return err
	}
	if err := s.Clear(ctx); err != nil {
		return err
	}
	fmt.Fprintf(out, "cleared %s.%s: %d documents deleted, indexes kept\n", s.Collection().Database().Name(), s.Collection().Name(), before)
	return nil
}

// indexInfo is what listIndexes says of one index.
type indexInfo struct {
	Name               string `bson:"name"`
	Key                bson.D `bson:"key"`
	ExpireAfterSeconds *int64 `bson:"expireAfterSeconds"`
	Sparse             bool   `bson:"sparse"`
	Unique             bool   `bson:"unique"`
}

func listIndexes(ctx context.Context, s *mongosession.Store) ([]indexInfo, error) {
	var idx []indexInfo
	err := s.Do(ctx, "list indexes", func(ctx context.Context, coll *mongo.Collection) error {
		cur, err := coll.Indexes().List(ctx)
		if err != nil {
			return err
		}
		return cur.All(ctx, &idx)
	})
	if hasCode(err, 26) { // NamespaceNotFound: no collection yet, so no index
		return nil, nil
	}
	sort.Slice(idx, func(i, j int) bool { return idx[i].Name < idx[j].Name })
	return idx, err
}

// ttlIndex returns the TTL index on the expiry field, if there is one.
func ttlIndex(idx []indexInfo, key string) *indexInfo {
	for i, ix := range idx {
		if len(ix.Key) == 1 && ix.Key[0].Key == key && ix.ExpireAfterSeconds != nil {
			return &idx[i]
		}
	}
	return nil
}

func indexes(ctx context.Context, s *mongosession.Store, c *config, out io.Writer) error {
	if c.ensure {
		// New has already run with AutoRemoveTTL: it created or repaired
		// the index, or found the server without TTL indexes (Reaping), or
		// warned on the log that it was not allowed to.
		if s.Reaping() {
			fmt.Fprintln(out, "the server has no TTL indexes (FerretDB 1.x?): run delete-expired periodically, or let applications' reapers do it")
		}
	}
	idx, err := listIndexes(ctx, s)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKEY\tOPTIONS")
	for _, ix := range idx {
		var keys, opts []string
		for _, k := range ix.Key {
			keys = append(keys, fmt.Sprintf("%s: %v", k.Key, k.Value))
		}
		if ix.ExpireAfterSeconds != nil {
			opts = append(opts, fmt.Sprintf("expireAfterSeconds: %d", *ix.ExpireAfterSeconds))
		}
		if ix.Unique {
			opts = append(opts, "unique")
		}
		if ix.Sparse {
			opts = append(opts, "sparse")
		}
		fmt.Fprintf(tw, "%s\t{%s}\t%s\n", ix.Name, strings.Join(keys, ", "), strings.Join(opts, ", "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	ttl := ttlIndex(idx, s.ExpiresKey())
	if ttl != nil {
		fmt.Fprintf(out, "TTL index: %s (the server deletes expired sessions)\n", ttl.Name)
	} else {
		fmt.Fprintf(out, "TTL index: none on %q (expired sessions stay until delete-expired or a reaper removes them; reads ignore them)\n", s.ExpiresKey())
	}
	switch {
	case !c.ensure || s.Reaping():
	case ttl == nil:
		return errors.New("the TTL index could not be created (see the log above)")
	case *ttl.ExpireAfterSeconds != int64(c.expireAfter/time.Second):
		return fmt.Errorf("the TTL index has expireAfterSeconds %d, not %d (see the log above)", *ttl.ExpireAfterSeconds, int64(c.expireAfter/time.Second))
	}
	return nil
}

func stats(ctx context.Context, s *mongosession.Store, _ *config, out io.Writer) error {
	live, err := s.Count(ctx)
	if err != nil {
		return err
	}
	var total, expired int64
	key := s.ExpiresKey()
	err = s.Do(ctx, "stats", func(ctx context.Context, coll *mongo.Collection) (err error) {
		if total, err = coll.CountDocuments(ctx, bson.D{}); err != nil {
			return err
		}
		expired, err = coll.CountDocuments(ctx, bson.D{{Key: key, Value: bson.D{{Key: "$lte", Value: time.Now()}}}})
		return err
	})
	if err != nil {
		return err
	}
	// Unreadable documents as far as the expiry goes: total - live -
	// expired, counted once at a moment, so the figure is approximate under
	// load.
	other := max(total-live-expired, 0)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "collection\t%s.%s\n", s.Collection().Database().Name(), s.Collection().Name())
	fmt.Fprintf(tw, "live sessions\t%d\n", live)
	fmt.Fprintf(tw, "expired, not yet removed\t%d\n", expired)
	fmt.Fprintf(tw, "without a date in %q\t%d\n", key, other)
	fmt.Fprintf(tw, "documents\t%d\n", total)
	var cs struct {
		Size           int64 `bson:"size"`
		StorageSize    int64 `bson:"storageSize"`
		TotalIndexSize int64 `bson:"totalIndexSize"`
	}
	err = s.Do(ctx, "collStats", func(ctx context.Context, coll *mongo.Collection) error {
		return coll.Database().RunCommand(ctx, bson.D{{Key: "collStats", Value: coll.Name()}}).Decode(&cs)
	})
	if err == nil {
		fmt.Fprintf(tw, "data size\t%d bytes\n", cs.Size)
		fmt.Fprintf(tw, "storage size\t%d bytes\n", cs.StorageSize)
		fmt.Fprintf(tw, "index size\t%d bytes\n", cs.TotalIndexSize)
	} else if errors.Is(err, mongosession.ErrUnavailable) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	} else {
		fmt.Fprintf(tw, "sizes\tunavailable (collStats: %v)\n", err)
	}
	idx, err := listIndexes(ctx, s)
	if err != nil {
		return err
	}
	if ttl := ttlIndex(idx, key); ttl != nil {
		fmt.Fprintf(tw, "TTL index\t%s, expireAfterSeconds %d\n", ttl.Name, *ttl.ExpireAfterSeconds)
	} else {
		fmt.Fprintf(tw, "TTL index\tnone\n")
	}
	return tw.Flush()
}

// hasCode reports whether err is a server error with the given code.
func hasCode(err error, code int) bool {
	var se mongo.ServerError
	return errors.As(err, &se) && se.HasErrorCode(code)
}
