package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/tandem-run/tandem/internal/cluster"
	"github.com/tandem-run/tandem/internal/sitedns"
)

// The sites' edge addresses the responder answers with.
var (
	homeAddr  = netip.MustParseAddr("127.0.0.10")
	cloudAddr = netip.MustParseAddr("127.0.0.20")
)

const dnsTTL = 30 * time.Second // sites.dns.ttl's default

type dnsResult struct {
	dark, stopped, back []time.Duration
}

// measureDNS runs a one-member cluster, a viewer, the responder and two
// "nodes" (registrations, as each node keeps), home-1 and cloud-1, and
// times the responder's answer moving between their sites.
func measureDNS(ctx context.Context, rounds int) (*dnsResult, error) {
	dir, err := os.MkdirTemp("", "tandem-bench-sites-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	cl, err := cluster.New(cluster.Options{Name: "bench", Node: "etcd-1", DataDir: dir, Advertise: "127.0.0.1",
		PeerPort: ports[0], ClientPort: ports[1], NodePort: ports[2]})
	if err != nil {
		return nil, err
	}
	octx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := cl.Open(octx); err != nil {
		return nil, err
	}
	defer cl.Close()
	b := &dnsBench{cl: cl}
	return b.run(ctx, rounds)
}

type dnsBench struct {
	cl   *cluster.Cluster
	addr string // the responder's
}

func (b *dnsBench) run(ctx context.Context, rounds int) (*dnsResult, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	view := b.cl.Viewer()
	wg.Go(func() { _ = view.Run(ctx) })
	sites := &sitedns.ClusterSites{View: view.View, Order: []string{"home", "cloud"}}
	r, err := sitedns.New(sitedns.Options{Zone: "go.example.com", Names: []string{"www.go.example.com"},
		NameServers: []sitedns.NameServer{{Name: "ns.example.net"}}, Hostmaster: "hostmaster@example.com",
		TTL: dnsTTL, Listen: "127.0.0.1:0", Sites: sites, Addresses: sites})
	if err != nil {
		return nil, err
	}
	if err := r.Listen(); err != nil {
		return nil, err
	}
	wg.Go(func() { _ = r.Run(ctx) })
	b.addr = r.Addr()
	cloud := b.cl.Registry(cluster.NodeInfo{Name: "cloud-1", Site: "cloud", Edge: net.JoinHostPort(cloudAddr.String(), "80")})
	wg.Go(func() { _ = cloud.Run(ctx) })

	res := &dnsResult{}
	for i := range rounds * 2 {
		back, darkened, err := b.round(ctx, i%2 == 0)
		if err != nil {
			return nil, err
		}
		res.back = append(res.back, back)
		if i%2 == 0 {
			res.dark = append(res.dark, darkened)
		} else {
			res.stopped = append(res.stopped, darkened)
		}
	}
	return res, nil
}

// round registers home-1, times the answer moving to home, then ends the
// registration — dark: it is left to expire with its lease, as when the
// site loses power or its network; else revoked at once, as when the node
// stops — and times the answer moving to cloud.
func (b *dnsBench) round(ctx context.Context, dark bool) (back, moved time.Duration, err error) {
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	home := b.cl.Registry(cluster.NodeInfo{Name: "home-1", Site: "home", Edge: net.JoinHostPort(homeAddr.String(), "80")})
	done := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		_ = home.Run(rctx)
	}()
	if err := b.await(ctx, homeAddr); err != nil {
		return 0, 0, err
	}
	back = time.Since(start)
	if dark {
		home.Keep()
	}
	start = time.Now()
	stop()
	<-done
	if err := b.await(ctx, cloudAddr); err != nil {
		return 0, 0, err
	}
	return back, time.Since(start), nil
}

// await asks the responder every 20 ms until it answers with want.
func (b *dnsBench) await(ctx context.Context, want netip.Addr) error {
	c := &dns.Client{Timeout: time.Second}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		q := new(dns.Msg)
		q.SetQuestion("www.go.example.com.", dns.TypeA)
		m, _, err := c.ExchangeContext(ctx, q, b.addr)
		if err == nil && len(m.Answer) == 1 {
			if a, ok := netip.AddrFromSlice(m.Answer[0].(*dns.A).A); ok && a.Unmap() == want {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return errors.New("the answer never became " + want.String())
}

func (d *dnsResult) write(out io.Writer) {
	fmt.Fprintln(out, "## DNS: the responder's answer moves to the follower")
	fmt.Fprintln(out)
	fmt.Fprintf(out, "The answer's TTL is %s (`sites.dns.ttl`'s default); \"up\" comes from the cluster's view (registrations under a %s lease). Median (min–max) of %d rounds.\n\n",
		dnsTTL, cluster.DefaultRegistryTTL, len(d.dark))
	fmt.Fprintln(out, "| leader site | answers switch after | a client moves at most (+ TTL) |")
	fmt.Fprintln(out, "|---|---|---|")
	fmt.Fprintf(out, "| goes dark (lease expires) | %s | %s |\n", summary(d.dark), summary(plus(d.dark, dnsTTL)))
	fmt.Fprintf(out, "| stops (registration revoked) | %s | %s |\n", summary(d.stopped), summary(plus(d.stopped, dnsTTL)))
	fmt.Fprintf(out, "| comes back (registers) | %s | %s |\n\n", summary(d.back), summary(plus(d.back, dnsTTL)))
}

func plus(ds []time.Duration, d time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, x := range ds {
		out[i] = x + d
	}
	return out
}

// freePorts returns n loopback ports nobody listens on now.
func freePorts(n int) ([]int, error) {
	var out []int
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("free port: %w", err)
		}
		lns = append(lns, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}
