// Package releasetest holds what a release of this repository needs: the
// version being released, the modules it tags and in which order, the tool
// that writes that version into the go.mod files, and a test that rehearses
// the release through a module proxy of its own (see RELEASING.md at the
// repository root).
//
// It is a module of its own, in the workspace but required by no one, so
// that golang.org/x/mod never enters the build list of a published module.
package releasetest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/mod/modfile"
)

// Version is the version the next release tags. Every published module is
// tagged with it, and every go.mod of the workspace requires the published
// modules at it (cmd/syncversion writes it there; TestRequirementsNameVersion
// fails until it has). The release process changes it here and nowhere else.
const Version = "v0.1.0"

// Published lists the directories, relative to the repository root, of the
// modules a release tags, in the order their tags are pushed: each comes
// after every module of this repository it requires. The rehearsal fetches
// each through its proxy, and go-installs a command module (one whose
// root package is main, which must then have no replace directive). A
// module that is to be installable from outside the repository is added
// here; the others (examples, bench, testserver, this module) are reached
// only through go.work and require no tag.
var Published = []string{".", "gorillastore", "ginstore", "fiberstore", "cmd/mongosession"}

// Tag is the tag that releases the module in dir (a path in Published) at
// version: the version itself for the root, else dir/version, the prefix the
// go command looks for in a multi-module repository.
func Tag(dir, version string) string {
	if dir == "." {
		return version
	}
	return path.Clean(dir) + "/" + version
}

// Module is one module of the workspace.
type Module struct {
	Dir       string // relative to the repository root, slash-separated: "." or "gorillastore"
	Path      string // module path
	Published bool   // listed in Published
	GoMod     string // absolute path of its go.mod
}

// Workspace returns the modules that root's go.work uses, in its order.
func Workspace(root string) ([]Module, error) {
	name := filepath.Join(root, "go.work")
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	work, err := modfile.ParseWork(name, data, nil)
	if err != nil {
		return nil, err
	}
	published := make(map[string]bool)
	for _, dir := range Published {
		published[path.Clean(dir)] = true
	}
	var mods []Module
	for _, use := range work.Use {
		dir := path.Clean(filepath.ToSlash(use.Path))
		goMod := filepath.Join(root, filepath.FromSlash(dir), "go.mod")
		data, err := os.ReadFile(goMod)
		if err != nil {
			return nil, err
		}
		modPath := modfile.ModulePath(data)
		if modPath == "" {
			return nil, fmt.Errorf("%s: no module line", goMod)
		}
		mods = append(mods, Module{Dir: dir, Path: modPath, Published: published[dir], GoMod: goMod})
		delete(published, dir)
	}
	for dir := range published {
		return nil, fmt.Errorf("releasetest.Published lists %s, which go.work does not use", dir)
	}
	return mods, nil
}

// WantVersion is the version at which a go.mod of the workspace must
// require m: Version for a published module; v0.0.0 for one that is never
// tagged, a version no proxy serves, so that only go.work or a replace
// directive can satisfy it.
func WantVersion(m Module) string {
	if m.Published {
		return Version
	}
	return "v0.0.0"
}

// SyncRequirements rewrites every go.mod of the workspace so that each of
// its requirements on a workspace module names WantVersion, keeping the
// rest of the file as it is. It returns the go.mod files it changed.
func SyncRequirements(root string) ([]string, error) {
	mods, err := Workspace(root)
	if err != nil {
		return nil, err
	}
	byPath := make(map[string]Module)
	for _, m := range mods {
		byPath[m.Path] = m
	}
	var changed []string
	for _, m := range mods {
		data, err := os.ReadFile(m.GoMod)
		if err != nil {
			return changed, err
		}
		f, err := modfile.Parse(m.GoMod, data, nil)
		if err != nil {
			return changed, err
		}
		for _, r := range f.Require {
			dep, ours := byPath[r.Mod.Path]
			if !ours || r.Mod.Version == WantVersion(dep) {
				continue
			}
			if err := f.AddRequire(r.Mod.Path, WantVersion(dep)); err != nil {
				return changed, err
			}
		}
		f.Cleanup()
		out, err := f.Format()
		if err != nil {
			return changed, err
		}
		if bytes.Equal(out, data) {
			continue
		}
		if err := os.WriteFile(m.GoMod, out, 0o644); err != nil {
			return changed, err
		}
		changed = append(changed, m.GoMod)
	}
	return changed, nil
}

// RepoRoot returns the directory of the go.work the go command uses from
// the current directory: the repository root.
func RepoRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOWORK").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOWORK: %w", err)
	}
	work := strings.TrimSpace(string(out))
	if work == "" || work == "off" {
		return "", fmt.Errorf("not inside the repository's workspace (go env GOWORK is %q)", work)
	}
	return filepath.Dir(work), nil
}
