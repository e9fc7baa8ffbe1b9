package mongosession_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestRootBuildListIsLight proves the layout's promise: a program that
// imports only the root package gets the driver and its dependencies, and
// none of the test server, the web frameworks or the Node tooling.
func TestRootBuildListIsLight(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	root, err := filepath.Abs(".")
	must(t, err)
	dir := t.TempDir()
	write := func(name, content string) {
		must(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
	}
	write("go.mod", "module example.com/consumer\n\ngo 1.25.0\n\nrequire github.com/mongosession/mongosession v0.0.0\n\nreplace github.com/mongosession/mongosession => "+root+"\n")
	write("main.go", "package main\n\nimport _ \"github.com/mongosession/mongosession\"\n\nfunc main() {}\n")

	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	run := func(args ...string) string {
		cmd := exec.Command(goBin, args...)
		cmd.Dir = dir
		// Offline, from the module cache the tests' own build filled;
		// outside the repository's go.work.
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOPROXY=off", "GOFLAGS=-mod=mod", "GONOSUMDB=*", "GONOSUMCHECK=1", "GOSUMDB=off")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Skipf("go %s could not run offline here (%v): %s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("mod", "tidy")
	mods := run("list", "-m", "all")
	deps := run("list", "-deps", ".")
	for _, heavy := range []string{"FerretDB", "gofiber", "gin-gonic", "labstack", "gorilla", "chromedp", "mongosession/testserver", "progressbar", "porcupine", "golang.org/x/mod"} {
		if strings.Contains(mods, heavy) {
			t.Errorf("go list -m all of a program importing only the root package lists %s:\n%s", heavy, mods)
		}
	}
	if strings.Contains(deps, "alexedwards/scs") {
		t.Errorf("the root package's build imports scs; it must satisfy scs structurally")
	}
	if !strings.Contains(mods, "go.mongodb.org/mongo-driver/v2") {
		t.Fatalf("the driver is missing from the build list, so the check above proves nothing:\n%s", mods)
	}
}
