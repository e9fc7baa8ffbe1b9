package gorillastore_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestBuildListIsLight proves the promise of the module layout: a program
// importing gorillastore gets gorilla/sessions and securecookie on top of
// the root module, and no web framework or test server, neither in its
// build nor in its module graph.
func TestBuildListIsLight(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	here, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/consumer\n\ngo 1.25.0\n\n"+
		"require github.com/mongosession/mongosession/gorillastore v0.0.0\n\n"+
		"replace github.com/mongosession/mongosession => "+filepath.Dir(here)+"\n\n"+
		"replace github.com/mongosession/mongosession/gorillastore => "+here+"\n")
	write("main.go", "package main\n\nimport _ \"github.com/mongosession/mongosession/gorillastore\"\n\nfunc main() {}\n")

	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	run := func(args ...string) string {
		cmd := exec.Command(goBin, args...)
		cmd.Dir = dir
		// Offline, from the module cache this test's own build filled, and
		// outside the repository's go.work.
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOPROXY=off", "GOFLAGS=-mod=mod", "GOSUMDB=off")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Skipf("go %s could not run offline here (%v): %s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	run("mod", "tidy")
	mods := run("list", "-m", "all")
	deps := run("list", "-deps", ".")
	for _, heavy := range []string{"FerretDB", "gofiber", "gin-gonic", "gin-contrib", "labstack", "mongosession/testserver"} {
		if strings.Contains(mods, heavy) {
			t.Errorf("go list -m all of a program importing gorillastore lists %s:\n%s", heavy, mods)
		}
	}
	for _, want := range []string{"github.com/gorilla/sessions", "github.com/gorilla/securecookie", "go.mongodb.org/mongo-driver/v2/mongo"} {
		if !strings.Contains(deps, want+"\n") {
			t.Errorf("the build of a program importing gorillastore lacks %s, so the checks above prove little:\n%s", want, deps)
		}
	}
	for _, line := range strings.Split(deps, "\n") {
		if !strings.Contains(line, ".") || strings.HasPrefix(line, "vendor/") || strings.HasPrefix(line, "crypto/") {
			continue // standard library
		}
		ok := false
		for _, prefix := range []string{"github.com/gorilla/", "github.com/mongosession/mongosession", "go.mongodb.org/mongo-driver/v2", "golang.org/x/", "github.com/klauspost/compress", "github.com/xdg-go/", "github.com/youmark/pkcs8", "example.com/consumer"} {
			ok = ok || strings.HasPrefix(line, prefix)
		}
		if !ok {
			t.Errorf("a program importing gorillastore builds %s, which is neither gorilla nor the root module's driver", line)
		}
	}
}
