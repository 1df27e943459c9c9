package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Measurer runs one scenario against one running peer and measures it.
type Measurer struct {
	Loader   Loader
	Duration time.Duration // the measured run
	Warmup   time.Duration // an unmeasured run just before it; 0: none
	client   *http.Client  // the harness's own requests (warming, counters)
}

func newMeasurer(l Loader, duration, warmup time.Duration) *Measurer {
	return &Measurer{Loader: l, Duration: duration, Warmup: warmup,
		client: &http.Client{Timeout: 10 * time.Second}}
}

// Close closes the harness's idle connections.
func (m *Measurer) Close() { m.client.CloseIdleConnections() }

// Measure runs sc against in: idle connections first when sc asks, then
// the warm-up, then the measured run with the peer's CPU and memory.
func (m *Measurer) Measure(ctx context.Context, in *Instance, sc Scenario, round int, idleRSS int64) (Sample, error) {
	s := Sample{Round: round, IdleRSS: idleRSS}
	if sc.IdleConns > 0 {
		per, err := m.memPerConn(ctx, in, sc)
		if err != nil {
			return s, err
		}
		s.MemPerConn = per
	}
	spec := LoadSpec{BaseURL: "http://" + in.Addr, Path: sc.Path, Mix: sc.Mix, Conns: sc.Conns, Threads: sc.Threads, Pause: sc.Pause}
	if m.Warmup > 0 {
		spec.Duration, spec.Nonce = m.Warmup, fmt.Sprintf("w%d", time.Now().UnixNano())
		if _, err := m.Loader.Run(ctx, spec); err != nil {
			return s, fmt.Errorf("warm up: %w", err)
		}
	}
	spec.Duration, spec.Nonce = m.Duration, fmt.Sprintf("r%d", time.Now().UnixNano())
	before, err := in.Tree.Snapshot()
	if err != nil {
		return s, err
	}
	originBefore, err := m.originCount(ctx, in)
	if err != nil {
		return s, err
	}
	res, peak, err := m.runSampled(ctx, in, spec)
	if err != nil {
		return s, err
	}
	after, err := in.Tree.Snapshot()
	if err != nil {
		return s, err
	}
	originAfter, err := m.originCount(ctx, in)
	if err != nil {
		return s, err
	}
	s.RPS, s.P50, s.P99 = res.RPS(), res.P50, res.P99
	s.Requests, s.Errors, s.PeakRSS = res.Requests, res.Errors, max(peak, after.RSS())
	if res.Requests > 0 {
		s.CPUPerReq = after.CPUSince(before) / time.Duration(res.Requests)
		s.OriginShare = float64(originAfter-originBefore) / float64(res.Requests)
	}
	return s, nil
}

// runSampled runs the load while sampling the peer's RSS every 100 ms, and
// returns the load's result and the highest RSS seen.
func (m *Measurer) runSampled(ctx context.Context, in *Instance, spec LoadSpec) (LoadResult, int64, error) {
	stop := make(chan struct{})
	var peak int64
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if snap, err := in.Tree.Snapshot(); err == nil {
					peak = max(peak, snap.RSS())
				}
			}
		}
	})
	res, err := m.Loader.Run(ctx, spec)
	close(stop)
	wg.Wait()
	if err != nil {
		return res, 0, fmt.Errorf("load %s: %w", spec.BaseURL, err)
	}
	return res, peak, nil
}

// memPerConn opens sc.IdleConns keep-alive connections, makes one request
// on each, and returns (RSS with them idle − RSS before) / count.
func (m *Measurer) memPerConn(ctx context.Context, in *Instance, sc Scenario) (float64, error) {
	before, err := in.Tree.Snapshot()
	if err != nil {
		return 0, err
	}
	conns := make([]net.Conn, 0, sc.IdleConns)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	req := "GET " + sc.Path + " HTTP/1.1\r\nHost: " + in.Addr + "\r\n\r\n"
	var d net.Dialer
	for range sc.IdleConns {
		c, err := d.DialContext(ctx, "tcp", in.Addr)
		if err != nil {
			return 0, fmt.Errorf("idle connections: %w", err)
		}
		conns = append(conns, c)
		if err := oneRequest(c, req); err != nil {
			return 0, fmt.Errorf("idle connections: %w", err)
		}
	}
	select { // let the peer settle (buffers returned, goroutines parked)
	case <-time.After(time.Second):
	case <-ctx.Done():
		return 0, fmt.Errorf("idle connections: %w", ctx.Err())
	}
	after, err := in.Tree.Snapshot()
	if err != nil {
		return 0, err
	}
	return float64(after.RSS()-before.RSS()) / float64(len(conns)), nil
}

// oneRequest writes a raw GET on c and reads the whole response.
func oneRequest(c net.Conn, req string) error {
	c.SetDeadline(time.Now().Add(10 * time.Second)) //nolint:errcheck // a fresh TCP conn
	defer c.SetDeadline(time.Time{})                //nolint:errcheck
	if _, err := io.WriteString(c, req); err != nil {
		return fmt.Errorf("write request: %w", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET: %s", resp.Status)
	}
	return nil
}

// originCount asks the origin, through the peer, how many benchmark
// requests it has served.
func (m *Measurer) originCount(ctx context.Context, in *Instance) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, in.URL("/_count"), nil)
	if err != nil {
		return 0, fmt.Errorf("origin count: %w", err)
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("origin count: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64))
	if err != nil {
		return 0, fmt.Errorf("origin count: %w", err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("origin count: %s: %w", resp.Status, err)
	}
	return n, nil
}

// Warm fetches each cacheable path twice so the measured run sees hits.
func (m *Measurer) Warm(ctx context.Context, in *Instance) error {
	paths := []string{"/hit/1k", "/hit/100k"}
	for k := range mixHotKeys {
		paths = append(paths, "/mix/"+strconv.Itoa(k))
	}
	for range 2 {
		for _, p := range paths {
			if err := get(ctx, m.client, in.URL(p)); err != nil {
				return fmt.Errorf("warm cache: %w", err)
			}
		}
	}
	return nil
}
