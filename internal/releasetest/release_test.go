package releasetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
	"golang.org/x/mod/zip"
)

// TestRequirementsNameVersion checks what a tag will publish: every
// requirement on a module of this repository names Version (or v0.0.0 for
// an unpublished one), published modules need nothing unpublished, and
// Published lists each module after those it requires, so that pushing the
// tags in that order never publishes a module whose requirement is not yet
// tagged.
func TestRequirementsNameVersion(t *testing.T) {
	if !semver.IsValid(Version) || semver.Canonical(Version) != Version || Version == "v0.0.0" {
		t.Fatalf("Version %q is not a canonical semantic version above v0.0.0", Version)
	}
	mods := workspace(t)
	byPath := make(map[string]Module)
	for _, m := range mods {
		byPath[m.Path] = m
	}
	order := make(map[string]int)
	for i, dir := range Published {
		order[dir] = i
	}
	seenPublished := 0
	for _, m := range mods {
		if m.Published {
			seenPublished++
		}
		f := parseGoMod(t, m.GoMod)
		if m.Published && isCommand(t, m) && (len(f.Replace) > 0 || len(f.Exclude) > 0) {
			t.Errorf("%s: a published command's go.mod has replace or exclude directives, which go install @%s refuses", m.GoMod, Version)
		}
		for _, r := range f.Require {
			dep, ours := byPath[r.Mod.Path]
			if !ours {
				continue
			}
			if want := WantVersion(dep); r.Mod.Version != want {
				t.Errorf("%s requires %s %s, want %s: run go run ./internal/releasetest/cmd/syncversion",
					m.GoMod, r.Mod.Path, r.Mod.Version, want)
			}
			if !m.Published {
				continue
			}
			if !dep.Published {
				t.Errorf("published module %s requires %s, which no release tags", m.Path, dep.Path)
			} else if order[dep.Dir] > order[m.Dir] {
				t.Errorf("Published lists %s before %s, which it requires: its tag would come first", m.Dir, dep.Dir)
			}
		}
	}
	if seenPublished != len(Published) || seenPublished == 0 {
		t.Fatalf("go.work uses %d of the %d published modules", seenPublished, len(Published))
	}
}

// TestRehearseRelease publishes the repository at Version to a module proxy
// in a temporary directory, as the tags would publish it (the files git
// would commit, each module without its nested modules). Then, outside the
// workspace and with a module cache of its own, it creates a consumer module
// that go-gets the root and every face at Version from that proxy and
// builds a program using scs, gorilla/sessions, gin and fiber with them;
// and, for each published module, a fresh consumer that go-gets that module
// alone and builds its packages, as someone who needs one face would.
//
// Third-party modules come from the machine's module cache, used as a
// second file proxy, then from the machine's GOPROXY (never "direct"): when
// that is needed and unreachable, the test skips, saying so. The
// consumers' own module cache keeps the trial version out of the shared
// one, where it would shadow the real release.
func TestRehearseRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module proxy and consumer programs with the go command")
	}
	root := repoRoot(t)
	mods := workspace(t)
	files := gitFiles(t, root)

	proxy := t.TempDir()
	var published, libraries, commands []Module
	for _, m := range mods {
		if !m.Published {
			continue
		}
		publish(t, proxy, root, m, files)
		published = append(published, m)
		if isCommand(t, m) {
			commands = append(commands, m)
		} else {
			libraries = append(libraries, m)
		}
	}

	modCache := t.TempDir()
	env := append(os.Environ(),
		"GOWORK=off",
		// -modcacherw lets t.TempDir remove the cache; -trimpath keeps the
		// temporary cache's paths out of the build cache's keys, so that a
		// second rehearsal reuses the first one's compiled packages.
		"GOFLAGS=-mod=mod -modcacherw -trimpath",
		"GOMODCACHE="+modCache,
		"GOPROXY="+consumerProxy(t, proxy),
		"GONOSUMDB=github.com/mongosession",
		"GOPRIVATE=", "GONOPROXY=",
		"GOTOOLCHAIN=local",
	)
	// The checksums this repository already verified for its dependencies;
	// anything else is checked against the machine's GOSUMDB. Our trial
	// modules are in no checksum database (GONOSUMDB above).
	sums := goSums(t, published)
	newConsumer := func() string {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "go.mod"), "module example.com/consumer\n\ngo 1.25.0\n")
		writeFile(t, filepath.Join(dir, "go.sum"), sums)
		return dir
	}
	goCmd := func(dir string, args ...string) []byte {
		t.Helper()
		cmd := exec.Command("go", args...)
		cmd.Dir = dir
		cmd.Env = env
		start := time.Now()
		out, err := cmd.CombinedOutput()
		t.Logf("go %s: %v", strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
		if err != nil {
			if reason := unreachable(out); reason != "" {
				t.Skipf("go %s needs the module proxy for a module missing from the local cache, and the network failed (%s):\n%s",
					strings.Join(args, " "), reason, out)
			}
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}

	all := newConsumer()
	writeFile(t, filepath.Join(all, "main.go"), consumerProgram)
	get := []string{"get"}
	for _, m := range libraries {
		get = append(get, m.Path+"@"+Version)
	}
	goCmd(all, get...)
	goCmd(all, "mod", "tidy")
	goCmd(all, "build", "-o", filepath.Join(all, "consumer"), ".")

	// The build used the trial release, not a copy of the repository.
	list := []string{"list", "-m", "-json"}
	for _, m := range libraries {
		list = append(list, m.Path)
	}
	dec := json.NewDecoder(bytes.NewReader(goCmd(all, list...)))
	found := 0
	for {
		var got struct {
			Path, Version, Dir string
			Replace            *struct{ Path string }
		}
		if err := dec.Decode(&got); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		found++
		if got.Version != Version || got.Replace != nil || !strings.HasPrefix(got.Dir, modCache+string(filepath.Separator)) {
			t.Errorf("the consumer builds with %s %s from %s (replaced: %v), want %s from its module cache",
				got.Path, got.Version, got.Dir, got.Replace != nil, Version)
		}
	}
	if found != len(libraries) {
		t.Errorf("go list -m reported %d modules, want the %d published libraries", found, len(libraries))
	}

	// Each library alone: its own requirements must resolve, with no other
	// module of ours named by the consumer to lift a missing version.
	for _, m := range libraries {
		alone := newConsumer()
		goCmd(alone, "get", m.Path+"@"+Version)
		goCmd(alone, "build", m.Path+"/...")
	}
	// Each command as its README says to install it.
	bin := t.TempDir()
	env = append(env, "GOBIN="+bin)
	for _, m := range commands {
		goCmd(newConsumer(), "install", m.Path+"@"+Version)
		if _, err := os.Stat(filepath.Join(bin, path.Base(m.Path))); err != nil {
			t.Errorf("go install %s@%s left no binary: %v", m.Path, Version, err)
		}
	}
}

// isCommand reports whether m's root package is a main package.
func isCommand(t *testing.T, m Module) bool {
	t.Helper()
	dir := filepath.Dir(m.GoMod)
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	must(t, err)
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.PackageClauseOnly)
		must(t, err)
		return f.Name.Name == "main"
	}
	return false
}

// consumerProgram uses every published face with the framework it serves,
// as a program outside this repository would.
const consumerProgram = `package main

import (
	"context"
	"log"
	"net/http"
	"os"

	"github.com/alexedwards/scs/v2"
	ginsessions "github.com/gin-contrib/sessions"
	"github.com/gin-gonic/gin"
	"github.com/gofiber/fiber/v3"
	"github.com/gofiber/fiber/v3/middleware/session"
	"github.com/gorilla/sessions"

	"github.com/mongosession/mongosession"
	"github.com/mongosession/mongosession/fiberstore"
	"github.com/mongosession/mongosession/ginstore"
	"github.com/mongosession/mongosession/gorillastore"
)

func main() {
	store, err := mongosession.New(context.Background(), mongosession.Options{
		URI:        os.Getenv("MONGODB_URI"),
		Collection: "sessions",
	})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	key := []byte("0123456789abcdef0123456789abcdef")

	sm := scs.New()
	sm.Store = store
	http.Handle("/scs", sm.LoadAndSave(http.NotFoundHandler()))

	var gorilla sessions.Store = gorillastore.New(store, key)
	_ = gorilla

	r := gin.New()
	r.Use(ginsessions.Sessions("session", ginstore.New(store, key)))

	app := fiber.New()
	app.Use(session.New(session.Config{Storage: fiberstore.New(store)}))
}
`

// publish writes module m at Version into proxy, laid out as GOPROXY's
// protocol says (list, .info, .mod and .zip under <escaped path>/@v/),
// from files, the repository's files relative to root.
func publish(t *testing.T, proxy, root string, m Module, files []string) {
	t.Helper()
	escPath, err := module.EscapePath(m.Path)
	if err != nil {
		t.Fatal(err)
	}
	escVersion, err := module.EscapeVersion(Version)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(proxy, filepath.FromSlash(escPath), "@v")
	must(t, os.MkdirAll(dir, 0o755))

	var zipFiles []zip.File
	for _, name := range files {
		rel := name
		if m.Dir != "." {
			var ok bool
			if rel, ok = strings.CutPrefix(name, m.Dir+"/"); !ok {
				continue
			}
		}
		abs := filepath.Join(root, filepath.FromSlash(name))
		info, err := os.Lstat(abs)
		if err != nil { // deleted in the working tree: not in the next commit
			continue
		}
		zipFiles = append(zipFiles, repoFile{path: rel, abs: abs, info: info})
	}
	checked, err := zip.CheckFiles(zipFiles)
	if err == nil {
		err = checked.Err()
	}
	if err != nil {
		t.Fatalf("%s would not make a valid module zip: %v", m.Path, err)
	}

	zf, err := os.Create(filepath.Join(dir, escVersion+".zip"))
	must(t, err)
	must(t, zip.Create(zf, module.Version{Path: m.Path, Version: Version}, zipFiles))
	must(t, zf.Close())

	goMod, err := os.ReadFile(m.GoMod)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, escVersion+".mod"), goMod, 0o644))
	info, err := json.Marshal(struct{ Version, Time string }{Version, time.Now().UTC().Format(time.RFC3339)})
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, escVersion+".info"), info, 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "list"), []byte(Version+"\n"), 0o644))
}

// repoFile is a file of the repository as zip.Create reads it.
type repoFile struct {
	path, abs string
	info      fs.FileInfo
}

func (f repoFile) Path() string                 { return f.path }
func (f repoFile) Lstat() (fs.FileInfo, error)  { return f.info, nil }
func (f repoFile) Open() (io.ReadCloser, error) { return os.Open(f.abs) }

// gitFiles lists the files the next commit would hold (tracked, and
// untracked but not ignored), relative to root, slash-separated: what a tag
// would publish, without node_modules, example data and other ignored files.
func gitFiles(t *testing.T, root string) []string {
	t.Helper()
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("the rehearsal publishes what git would commit, and git ls-files failed here (not a git checkout?): %v", err)
	}
	var files []string
	for name := range strings.SplitSeq(strings.TrimSuffix(string(out), "\x00"), "\x00") {
		files = append(files, name)
	}
	slices.Sort(files)
	return slices.Compact(files) // a file with unmerged stages is listed once per stage
}

// goSums is the union of the published modules' go.sum files.
func goSums(t *testing.T, mods []Module) string {
	t.Helper()
	var lines []string
	for _, m := range mods {
		data, err := os.ReadFile(filepath.Join(filepath.Dir(m.GoMod), "go.sum"))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		must(t, err)
		lines = append(lines, strings.Split(strings.TrimSpace(string(data)), "\n")...)
	}
	slices.Sort(lines)
	return strings.Join(slices.Compact(lines), "\n") + "\n"
}

// consumerProxy is the consumer's GOPROXY: the trial proxy, then the
// machine's module cache (its download directory is a file proxy of every
// module this machine has fetched), then the machine's proxies without
// "direct" or "off": the rehearsal needs no network beyond a module proxy.
func consumerProxy(t *testing.T, trial string) string {
	t.Helper()
	list := []string{"file://" + filepath.ToSlash(trial)}
	if cache := goEnv(t, "GOMODCACHE"); cache != "" {
		list = append(list, "file://"+filepath.ToSlash(filepath.Join(cache, "cache", "download")))
	}
	for p := range strings.FieldsFuncSeq(goEnv(t, "GOPROXY"), func(r rune) bool { return r == ',' || r == '|' }) {
		if p != "direct" && p != "off" {
			list = append(list, p)
		}
	}
	return strings.Join(list, ",")
}

// unreachable names the network failure in a go command's output, if any.
func unreachable(out []byte) string {
	for _, sign := range []string{"dial tcp", "no such host", "connection refused", "network is unreachable",
		"i/o timeout", "TLS handshake timeout", "proxyconnect", "server misbehaving"} {
		if bytes.Contains(out, []byte(sign)) {
			return sign
		}
	}
	return ""
}

func goEnv(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		t.Fatalf("go env %s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}

func workspace(t *testing.T) []Module {
	t.Helper()
	mods, err := Workspace(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	return mods
}

// repoRoot is the repository root: this package is internal/releasetest.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	must(t, err)
	return root
}

func parseGoMod(t *testing.T, name string) *modfile.File {
	t.Helper()
	data, err := os.ReadFile(name)
	must(t, err)
	f, err := modfile.Parse(name, data, nil)
	must(t, err)
	return f
}

func writeFile(t *testing.T, name, content string) {
	t.Helper()
	must(t, os.WriteFile(name, []byte(content), 0o644))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestSyncRequirements runs syncversion's rewrite on a workspace of the
// repository's shape in a temporary directory.
func TestSyncRequirements(t *testing.T) {
	root := t.TempDir()
	const prefix = "github.com/mongosession/mongosession"
	dirs := append(slices.Clone(Published), "examples/app", "testserver")
	use := ""
	for _, dir := range dirs {
		use += "\t" + "./" + strings.TrimPrefix(dir, ".") + "\n"
		must(t, os.MkdirAll(filepath.Join(root, dir), 0o755))
	}
	writeFile(t, filepath.Join(root, "go.work"), "go 1.25.0\n\nuse (\n"+use+")\n")
	for _, dir := range dirs {
		modPath := prefix
		if dir != "." {
			modPath += "/" + dir
		}
		content := "module " + modPath + "\n\ngo 1.25.0\n"
		if dir != "." {
			content += "\nrequire (\n" +
				"\t" + prefix + " v0.0.0\n" +
				"\t" + prefix + "/testserver v0.3.0 // indirect\n" +
				"\texample.com/other v1.2.3\n" +
				")\n\nreplace " + prefix + " => ../\n"
		}
		writeFile(t, filepath.Join(root, dir, "go.mod"), content)
	}

	changed, err := SyncRequirements(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(changed) != len(dirs)-1 {
		t.Errorf("changed %d go.mod files, want the %d that require the root: %v", len(changed), len(dirs)-1, changed)
	}
	for _, dir := range dirs[1:] {
		f := parseGoMod(t, filepath.Join(root, dir, "go.mod"))
		want := map[string]string{prefix: Version, prefix + "/testserver": "v0.0.0", "example.com/other": "v1.2.3"}
		for _, r := range f.Require {
			if r.Mod.Version != want[r.Mod.Path] {
				t.Errorf("%s: requires %s %s, want %s", dir, r.Mod.Path, r.Mod.Version, want[r.Mod.Path])
			}
			if r.Indirect != (r.Mod.Path == prefix+"/testserver") {
				t.Errorf("%s: %s lost or gained its // indirect", dir, r.Mod.Path)
			}
			delete(want, r.Mod.Path)
		}
		if len(want) > 0 || len(f.Replace) != 1 {
			t.Errorf("%s: requirements %v missing, %d replace directives (want 1)", dir, want, len(f.Replace))
		}
	}
	if again, err := SyncRequirements(root); err != nil || len(again) != 0 {
		t.Errorf("a second run changed %v (err %v), want nothing", again, err)
	}
}
