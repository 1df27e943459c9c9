// Command sites measures how soon clients find the site that is up once
// the leader site goes dark, both ways tandem offers:
//
//   - DNS: the time from the leader site going dark to the nodes' DNS
//     responder answering with the follower's address, with "up" taken
//     from the cluster's view (a dark site's registrations expire with
//     their lease); a client follows once its resolver's copy expires,
//     at most the TTL later.
//
//   - The browser health proxy: in headless Chromium, the time from a page
//     load at the dark leader site to the browser landing on the same page
//     at the follower — through the service worker, and through the proxy's
//     page — with the dark site refusing connections, or holding them
//     without a word.
//
//     go run ./bench/sites -rounds 5
//
// Everything runs in this process on loopback: an embedded etcd member,
// the responder, and edges serving the proxy (see bench/sites/README.md).
// The browser part needs Debian's chromium; without it it is skipped.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/tandem-run/tandem/bench/host"
)

func main() {
	host.Main("sites", func(ctx context.Context) error { return run(ctx, os.Args[1:], os.Stdout) })
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("sites", flag.ContinueOnError)
	rounds := fs.Int("rounds", 5, "rounds of each measure")
	browser := fs.Bool("browser", true, "measure the browser health proxy (needs chromium)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	fmt.Fprintf(out, "# Clients finding the site that is up, %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	d, err := measureDNS(ctx, *rounds)
	if err != nil {
		return fmt.Errorf("dns: %w", err)
	}
	d.write(out)
	if !*browser {
		return nil
	}
	b, err := measureBrowser(ctx, *rounds)
	if err != nil {
		return fmt.Errorf("browser: %w", err)
	}
	b.write(out)
	return nil
}

// summary renders samples as "median (min–max)".
func summary(ds []time.Duration) string {
	if len(ds) == 0 {
		return "—"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return fmt.Sprintf("%s (%s–%s)", round(s[len(s)/2]), round(s[0]), round(s[len(s)-1]))
}

func round(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(time.Millisecond)
}
