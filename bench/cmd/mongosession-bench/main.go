// Command mongosession-bench measures mongosession against the raw MongoDB
// driver and prints the tables of BENCHMARKS.md. From the repository root:
//
//	go run ./bench/cmd/mongosession-bench            # 1 000 and 10 000 sessions
//	go run ./bench/cmd/mongosession-bench -large     # and 100 000 (slow on FerretDB 1.24)
//	go run ./bench/cmd/mongosession-bench -sections endtoend,sizes   # seed apps under load, 1 KiB to 1 MiB sessions
//	go run ./bench/cmd/mongosession-bench -sections peers   # against the MongoDB stores of scs, fiber and gorilla
//
// With MONGODB_URI set it measures that server; otherwise it starts the
// repository's test server (FerretDB 1.24 on SQLite) as its own process,
// so that the server's CPU and allocations are not counted as ours.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/mongosession/mongosession/bench"
)

func main() {
	large := flag.Bool("large", false, "also measure 100 000 sessions (scale) and iterate 100 000 (memory): slow on FerretDB 1.24, which scans")
	rounds := flag.Int("rounds", 0, "interleaved rounds of the overhead section (default 51)")
	batch := flag.Int("batch", 0, "operations a side per round of the overhead section (default 20)")
	lookups := flag.Int("lookups", 0, "finds a side at each size of the scale section (default 100)")
	clients := flag.Int("clients", 0, "concurrent clients of the end-to-end section (default 32)")
	duration := flag.Duration("duration", 0, "load of each face in the end-to-end section (default 10s)")
	requests := flag.Int("requests", 0, "at most this many requests a face in the end-to-end section (default: no limit but -duration)")
	sizeRounds := flag.Int("size-rounds", 0, "interleaved rounds at each session size of the sizes section (default 15)")
	sections := flag.String("sections", "", "comma-separated subset of overhead,roundtrips,scale,memory,endtoend,sizes,peers (default all)")
	sizes := flag.String("sizes", "", "comma-separated numbers of stored sessions of the scale and peers sections, increasing (default 1000,10000; -large adds 100000)")
	flag.Parse()
	var sizeList []int
	if *sizes != "" {
		for _, f := range strings.Split(*sizes, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 || (len(sizeList) > 0 && n <= sizeList[len(sizeList)-1]) {
				fmt.Fprintf(os.Stderr, "mongosession-bench: -sizes: %q is not a list of increasing positive numbers\n", *sizes)
				os.Exit(2)
			}
			sizeList = append(sizeList, n)
		}
	}

	uri, stop, err := bench.URIFromEnv(os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mongosession-bench:", err)
		os.Exit(1)
	}
	cfg := bench.DefaultConfig(uri, *large)
	if *rounds > 0 {
		cfg.Rounds = *rounds
	}
	if *batch > 0 {
		cfg.Batch = *batch
	}
	if *lookups > 0 {
		cfg.Lookups = *lookups
	}
	if *clients > 0 {
		cfg.LoadClients = *clients
	}
	if *duration > 0 {
		cfg.LoadDuration = *duration
	}
	if *requests > 0 {
		cfg.LoadRequests = *requests
	}
	if *sizeRounds > 0 {
		cfg.SizeRounds = *sizeRounds
	}
	if sizeList != nil {
		cfg.Sizes = sizeList
	}
	if *sections != "" {
		cfg.Sections = strings.Split(*sections, ",")
	}
	_, err = bench.Run(context.Background(), cfg, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "mongosession-bench:", err)
		os.Exit(1)
	}
}
