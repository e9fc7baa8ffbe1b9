package mongosession_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/internal/mongotest"
)

// TestOutageAndRecovery stops the server under the store, checks that every
// operation fails within Timeout as ErrUnavailable, starts the server again
// on the same address and data, and checks that the same store recovers
// without a restart and that nothing committed before the outage is lost.
func TestOutageAndRecovery(t *testing.T) {
	dir := t.TempDir()
	srv, err := mongotest.StartServer(dir, mongotest.RestartableAddr(t)) // restarted on the same address below
	must(t, err)
	defer func() { srv.Stop() }()

	const timeout = 500 * time.Millisecond
	s, err := mongosession.New(mongotest.SetupContext(t), mongosession.Options{URI: srv.URI + "?serverSelectionTimeoutMS=400", Collection: "outage", Timeout: timeout, Logger: mongotest.Logger(t)})
	must(t, err)
	defer s.Close()

	for i := 0; i < 20; i++ {
		must(t, s.CommitCtx(ctx, fmt.Sprintf("before%d", i), []byte(fmt.Sprintf("value %d", i)), hour()))
	}

	srv.Kill()
	ops := map[string]func() error{
		"find":   func() error { _, _, err := s.Find("before1"); return err },
		"commit": func() error { return s.Commit("during", []byte("x"), hour()) },
		"delete": func() error { return s.Delete("before2") },
		"count":  func() error { _, err := s.Count(ctx); return err },
	}
	for name, op := range ops {
		start := time.Now()
		err := op()
		el := time.Since(start)
		if !errors.Is(err, mongosession.ErrUnavailable) {
			t.Errorf("%s during the outage = %v; want ErrUnavailable", name, err)
		}
		if el > timeout+2*time.Second { // slack for a loaded CI machine, as in TestPartitionedServer
			t.Errorf("%s took %v during the outage; Timeout is %v", name, el, timeout)
		}
	}

	srv, err = mongotest.StartServer(dir, srv.Addr)
	must(t, err)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, _, err := s.Find("before0")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store did not recover within 10 s of the server's return: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i := 0; i < 20; i++ {
		b, found, err := s.Find(fmt.Sprintf("before%d", i))
		if err != nil || !found || string(b) != fmt.Sprintf("value %d", i) {
			t.Fatalf("session %d after recovery = %q %v %v; want it intact", i, b, found, err)
		}
	}
	must(t, s.Commit("after", []byte("x"), hour()))
}
