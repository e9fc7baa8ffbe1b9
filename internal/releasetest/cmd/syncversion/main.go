// Command syncversion writes releasetest.Version into the go.mod files of
// the workspace: every requirement on a published module names that
// version, every requirement on an unpublished one v0.0.0. Run it from
// anywhere in the repository after changing Version:
//
//	go run ./internal/releasetest/cmd/syncversion
//
// It prints each go.mod it changed, nothing when all were in step. With
// -tags it changes nothing and prints the release's tags instead, one a
// line, in the order they are pushed (see RELEASING.md).
package main

import (
	"flag"
	"fmt"
	"log"

	"github.com/mongosession/mongosession/internal/releasetest"
)

func main() {
	log.SetFlags(0)
	tags := flag.Bool("tags", false, "print the release's tags in push order, change nothing")
	flag.Parse()
	if *tags {
		for _, dir := range releasetest.Published {
			fmt.Println(releasetest.Tag(dir, releasetest.Version))
		}
		return
	}
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
