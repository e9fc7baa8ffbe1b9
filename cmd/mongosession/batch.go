package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"golang.org/x/term"
)

// delete-expired and clear delete in batches, each batch two bounded
// commands:
//
//  1. find {filter} projection {_id: 1} limit N (batchSize N, so one reply);
//  2. delete {filter, _id: {$in: ids}} (one deleteMany).
//
// Why ids and $in rather than _id ranges: a batch deletes at most N
// documents by construction (a range bound by the Nth _id also takes in
// every matching document inserted into that range meanwhile); the
// filter is applied again by the delete, so a session renewed between the
// two commands is not deleted; $in on _id uses the _id index on every
// server, and on a collection sharded on {_id: "hashed"} is routed to the
// shards holding those ids, where a range on a hashed key goes to every
// shard. The price is the find, a covered read of N ids.
//
// Ctrl-C (ctx cancelled) is looked at between batches only: the commands
// of a batch run on a context that the signal does not cancel (bounded by
// -timeout), so a batch is never cut in half and the count printed is the
// count deleted.

const (
	defaultBatch = 1000
	// maxBatch keeps one batch's delete command, whose $in lists the ids,
	// well under the 16 MiB command size (ids of 64 bytes: 6.4 MB).
	maxBatch = 100_000
)

func batchFlags(fs *flag.FlagSet, c *config) {
	fs.IntVar(&c.batch, "batch", defaultBatch, fmt.Sprintf("documents per delete command (at most %d)", maxBatch))
	fs.DurationVar(&c.pause, "pause", 0, "pause between batches, so that a busy primary keeps serving")
	fs.BoolVar(&c.progress, "progress", false, "show the progress bar on stderr even when it is not a terminal")
	fs.BoolVar(&c.quiet, "quiet", false, "never show the progress bar")
}

// errInterrupted is the error of a batched delete stopped by Ctrl-C.
var errInterrupted = errors.New("interrupted")

type deleteResult struct {
	Collection  string `json:"collection"`
	Deleted     int64  `json:"deleted"`
	Batches     int    `json:"batches"`
	Interrupted bool   `json:"interrupted"`
	// what is "expired sessions" or "documents"
	what string
}

func (r deleteResult) text(w io.Writer) error {
	var err error
	if r.what == "documents" {
		_, err = fmt.Fprintf(w, "cleared %s: %d documents deleted, indexes kept", r.Collection, r.Deleted)
	} else {
		_, err = fmt.Fprintf(w, "deleted %d %s", r.Deleted, r.what)
	}
	if err == nil && r.Interrupted {
		_, err = fmt.Fprint(w, " (interrupted)")
	}
	if err == nil {
		_, err = fmt.Fprintln(w)
	}
	return err
}

func deleteExpired(ctx context.Context, e *env) (result, error) {
	// The documents expired when the command started, as the engine's
	// DeleteExpired (a single deleteMany) would delete them: the count
	// announced up front is then the count to delete.
	filter := bson.D{{Key: e.s.Backend().ExpiresKey(), Value: bson.D{{Key: "$lte", Value: time.Now()}}}}
	return batchDelete(ctx, e, filter, "expired sessions")
}

func clearAll(ctx context.Context, e *env) (result, error) {
	// Every document, expired or not (the engine's Clear): a deleteMany,
	// never a drop, so the indexes stay.
	return batchDelete(ctx, e, bson.D{}, "documents")
}

// batchDelete deletes the documents matching filter in batches of -batch,
// with -pause between them, and a progress bar on stderr when it is a
// terminal (or -progress).
func batchDelete(ctx context.Context, e *env, filter bson.D, what string) (result, error) {
	s, c := e.s, e.c
	r := deleteResult{Collection: s.Collection().Database().Name() + "." + s.Collection().Name(), what: what}
	// A batch runs to its end whatever the signal: its context is not ctx.
	batchCtx := context.WithoutCancel(ctx)

	var total int64
	err := s.Backend().Do(ctx, "counting", func(ctx context.Context, coll *mongo.Collection) (err error) {
		total, err = coll.CountDocuments(ctx, filter)
		return err
	})
	if err != nil {
		return nil, err
	}
	bar := newBar(e.stderr, c, total, "deleting "+what)

	find := options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}).
		SetLimit(int64(c.batch)).SetBatchSize(int32(c.batch))
	for {
		if ctx.Err() != nil {
			r.Interrupted = true
			break
		}
		var ids bson.A
		var n int64
		err := s.Backend().Do(batchCtx, "deleting a batch", func(bctx context.Context, coll *mongo.Collection) error {
			ids = ids[:0]
			cur, err := coll.Find(bctx, filter, find)
			if err != nil {
				return err
			}
			for cur.Next(bctx) {
				id := cur.Current.Lookup("_id")
				id.Value = bytes.Clone(id.Value) // the reply's buffer is the cursor's
				ids = append(ids, id)
			}
			if err := errors.Join(cur.Err(), cur.Close(bctx)); err != nil || len(ids) == 0 {
				return err
			}
			del := append(bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}, filter...)
			res, err := coll.DeleteMany(bctx, del)
			if err != nil {
				return err
			}
			n = res.DeletedCount
			return nil
		})
		if err != nil {
			bar.stop()
			return r, fmt.Errorf("%w (%d %s deleted before it)", err, r.Deleted, what)
		}
		if len(ids) == 0 {
			break
		}
		r.Batches++
		r.Deleted += n
		bar.add(n)
		if len(ids) < c.batch {
			break // the last one
		}
		if c.pause > 0 {
			t := time.NewTimer(c.pause)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}
	bar.stop()
	if r.Interrupted {
		return r, fmt.Errorf("%w: %d %s deleted in %d batches; run it again to go on", errInterrupted, r.Deleted, what, r.Batches)
	}
	return r, nil
}

// bar is the progress bar, or nothing.
type bar struct{ pb *progressbar.ProgressBar }

// newBar returns a progress bar on w for total documents when w is a
// terminal or -progress asks for one, unless -quiet.
func newBar(w io.Writer, c *config, total int64, desc string) *bar {
	show := c.progress || (!c.quiet && isTerminal(w))
	if !show || c.quiet || total <= 0 {
		return &bar{}
	}
	return &bar{pb: progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("docs"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSetRenderBlankState(true),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
	)}
}

func (b *bar) add(n int64) {
	if b.pb == nil {
		return
	}
	// More matching documents than counted at the start (a clear while
	// sessions are being created): the bar grows.
	if cur := b.pb.State().CurrentNum + n; cur > b.pb.GetMax64() {
		b.pb.ChangeMax64(cur)
	}
	_ = b.pb.Add64(n)
}

// stop leaves the bar where it is (finished or not) and ends its line.
func (b *bar) stop() {
	if b.pb == nil || b.pb.IsFinished() {
		return
	}
	_ = b.pb.Exit()
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
