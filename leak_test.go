package mongosession_test

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// checkNoLeak fails the test if goroutines of the driver or the store are
// still running after everything the test opened was closed. Other tests'
// stores may run in parallel only if they use t.Parallel, which these
// tests never do.
func checkNoLeak(t *testing.T) {
	t.Helper()
	var stacks string
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		stacks = ours()
		if stacks == "" {
			return
		}
	}
	t.Errorf("goroutines left behind:\n%s", stacks)
}

// ours returns the stacks of goroutines started by the store or the driver.
func ours() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var leaked []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "mongosession.(*Store)") && !strings.Contains(g, "checkNoLeak") ||
			strings.Contains(g, "go.mongodb.org/mongo-driver") {
			leaked = append(leaked, g)
		}
	}
	return strings.Join(leaked, "\n\n")
}
