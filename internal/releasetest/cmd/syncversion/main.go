// Command syncversion writes releasetest.Version into the go.mod files of
// the workspace: every requirement on a published module names that
// version, every requirement on an unpublished one v0.0.0. Run it from
// anywhere in the repository after changing Version:
//
//	go run ./internal/releasetest/cmd/syncversion
//
// It prints each go.mod it changed and nothing when all were in step.
package main

import (
	"fmt"
	"log"

	"github.com/mongosession/mongosession/internal/releasetest"
)

func main() {
	log.SetFlags(0)
	root, err := releasetest.RepoRoot()
	if err != nil {
		log.Fatal("syncversion: ", err)
	}
	changed, err := releasetest.SyncRequirements(root)
	for _, name := range changed {
		fmt.Println(name)
	}
	if err != nil {
		log.Fatal("syncversion: ", err)
	}
}
