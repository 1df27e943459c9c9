package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

// freePorts returns n distinct ports nobody listens on now at ip.
func freePorts(ip string, n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	var ports []int
	for range n {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			return nil, fmt.Errorf("free port on %s: %w", ip, err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// freePortOn returns a port free on every one of ips.
func freePortOn(ips ...string) (int, error) {
	for range 50 {
		ports, err := freePorts(ips[0], 1)
		if err != nil {
			return 0, err
		}
		free := true
		for _, ip := range ips[1:] {
			ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(ports[0])))
			if err != nil {
				free = false
				break
			}
			ln.Close()
		}
		if free {
			return ports[0], nil
		}
	}
	return 0, fmt.Errorf("no port free on all of %v", ips)
}

// waitFile waits until path exists, at most timeout, while p (the
// process that writes it) runs.
func waitFile(ctx context.Context, path string, timeout time.Duration, p *proc) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		if p.Exited() {
			return fmt.Errorf("%s exited (%v) before writing %s", p.Name, p.Err(), path)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return fmt.Errorf("%s not written within %s: %w", path, timeout, err)
		}
	}
}

// waitHTTP waits until GET url answers 200, at most timeout.
func waitHTTP(ctx context.Context, c *http.Client, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for !httpOK(ctx, c, url) {
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return fmt.Errorf("GET %s: no 200 within %s: %w", url, timeout, err)
		}
	}
	return nil
}

// httpOK reports whether GET url answers 200.
func httpOK(ctx context.Context, c *http.Client, url string) bool {
	resp, err := get(ctx, c, url)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body) //nolint:errcheck // only the status matters
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// getJSON decodes the answer of GET url.
func getJSON(ctx context.Context, c *http.Client, url string, v any) error {
	resp, err := get(ctx, c, url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}

func get(ctx context.Context, c *http.Client, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	return c.Do(req)
}

// keepOrRemove removes a cluster's directory, or keeps it (its logs and
// data) when something failed, and says where.
func keepOrRemove(dir string, failed bool) string {
	if failed {
		return dir
	}
	os.RemoveAll(dir) //nolint:errcheck // the run's directory is removed at the end anyway
	return ""
}

// stamp is the time for progress lines.
func stamp() string { return time.Now().UTC().Format("15:04:05.000") }

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }
