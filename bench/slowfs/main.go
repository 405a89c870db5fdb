// Command slowfs mounts a directory through FUSE with a fixed latency on
// every metadata request, served one at a time (or, with -perclient, each
// on its own), to stand in for a busy
// parallel file system's metadata server:
//
//	go run ./bench/slowfs -latency 1ms -src /usr/lib/python3 -mnt /tmp/x -stats out.json
//
// Ctrl-C (SIGINT) or SIGTERM unmounts and writes the request counts to
// the -stats file; SIGUSR1 writes them without unmounting (and so does
// every -stats-every interval). See package latencyfs for the model.
//
// Exit status: 0 after a clean unmount, 1 when the mount fails or cannot
// be undone, 2 for bad flags.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pyhost/pyhost/bench/slowfs/latencyfs"
)

func main() {
	os.Exit(run())
}

func run() int {
	var (
		src        = flag.String("src", "", "directory to pass through (required)")
		mnt        = flag.String("mnt", "", "existing empty directory to mount on (required)")
		latency    = flag.Duration("latency", time.Millisecond, "service time of each metadata request (0 = none)")
		cache      = flag.Bool("cache", false, "turn on the kernel dentry and attribute cache")
		perClient  = flag.Bool("perclient", false, "each request waits -latency on its own (no shared queue): per-client latency")
		negCache   = flag.Bool("negcache", false, "turn on the kernel cache of failed lookups")
		ttl        = flag.Duration("ttl", time.Minute, "cache timeout with -cache/-negcache")
		statsPath  = flag.String("stats", "", "write request counts (JSON) here on unmount and on SIGUSR1")
		statsEvery = flag.Duration("stats-every", 0, "also write -stats at this interval while mounted")
		readOnly   = flag.Bool("ro", false, "mount read-only")
		passthru   = flag.Bool("passthrough", false, "let the kernel read file data directly (FUSE passthrough): faster, READs not counted")
		allowOther = flag.Bool("allow-other", false, "let other users use the mount")
		debug      = flag.Bool("debug", false, "log every FUSE request")
	)
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: slowfs -src DIR -mnt DIR [-latency 1ms] [-stats FILE] [flags]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *src == "" || *mnt == "" || flag.NArg() > 0 {
		flag.Usage()
		return 2
	}
	if *latency < 0 {
		fmt.Fprintln(os.Stderr, "slowfs: -latency must not be negative")
		return 2
	}

	// Take the signals before mounting: a Ctrl-C that arrives during
	// the mount must still unmount.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGUSR1)

	q := latencyfs.NewQueue(*latency)
	if *perClient {
		q = latencyfs.NewPerClient(*latency)
	}
	m, err := latencyfs.New(*src, *mnt, latencyfs.Options{
		Queue:         q,
		Cache:         *cache,
		NegativeCache: *negCache,
		CacheTimeout:  *ttl,
		AllowOther:    *allowOther,
		Passthrough:   *passthru,
		ReadOnly:      *readOnly,
		Debug:         *debug,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "slowfs:", err)
		if errors.Is(err, latencyfs.ErrUnavailable) {
			fmt.Fprintln(os.Stderr, "slowfs: FUSE needs /dev/fuse and root or the fusermount3 helper (apt-get install fuse3)")
		}
		return 1
	}
	fmt.Fprintf(os.Stderr, "slowfs: %s mounted on %s, %v per metadata request, kernel cache %v (pid %d; SIGUSR1 writes stats, Ctrl-C unmounts)\n",
		m.Source(), m.Dir(), *latency, *cache, os.Getpid())

	writeStats := func() {
		if *statsPath == "" {
			return
		}
		if err := m.Stats().WriteFile(*statsPath); err != nil {
			fmt.Fprintln(os.Stderr, "slowfs:", err)
		}
	}
	writeStats() // so that the file exists from the start

	unmounted := make(chan struct{})
	go func() {
		m.Wait()
		close(unmounted)
	}()
	var tick <-chan time.Time
	if *statsEvery > 0 && *statsPath != "" {
		t := time.NewTicker(*statsEvery)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-tick:
			writeStats()
		case s := <-sigs:
			if s == syscall.SIGUSR1 {
				writeStats()
				continue
			}
			err := m.Unmount()
			writeStats()
			summarize(m.Stats())
			if err != nil {
				fmt.Fprintln(os.Stderr, "slowfs:", err)
				return 1
			}
			return 0
		case <-unmounted:
			fmt.Fprintln(os.Stderr, "slowfs: unmounted from outside")
			writeStats()
			summarize(m.Stats())
			return 0
		}
	}
}

func summarize(s latencyfs.Stats) {
	fmt.Fprintf(os.Stderr, "slowfs: served %d metadata and %d other requests (%d bytes read) in %.1fs\n",
		s.Metadata, s.Data, s.ReadBytes, s.UptimeSeconds)
}
