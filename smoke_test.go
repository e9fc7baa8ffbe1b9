package mongosession_test

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/mongosession/mongosession"
)

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(bytes.TrimSpace(p))); return len(p), nil }

func quietLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, nil))
}

func TestSmoke(t *testing.T) {
	s := newStore(t, mongosession.Options{})
	ctx := context.Background()
	if err := s.CommitCtx(ctx, "tok", []byte("hello"), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	b, found, err := s.FindCtx(ctx, "tok")
	if err != nil || !found || string(b) != "hello" {
		t.Fatalf("got %q %v %v", b, found, err)
	}
}
