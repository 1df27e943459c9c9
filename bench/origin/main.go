// Command origin is the application server behind every peer in tandem's
// benchmark (see bench/ and docs/benchmarks.md). It serves fixed bodies with
// the cache headers each scenario needs, so that what is measured is the
// proxy in front of it, not the application:
//
//	/healthz    200 "ok", Cache-Control: no-store
//	/pass/1k    1 KiB, Cache-Control: no-store (pass-through scenario)
//	/hit/1k     1 KiB, Cache-Control: public, max-age=3600
//	/hit/100k   100 KiB, same
//	/mix/{key}  1 KiB, same; any key (the 10%-miss mix)
//	/_count     how many /pass, /hit and /mix requests it has served (no-store)
//
// It listens on 127.0.0.1:$PORT (as tandem starts it) or on -addr.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "", "listen address (default 127.0.0.1:$PORT)")
	flag.Parse()
	if *addr == "" {
		port := os.Getenv("PORT")
		if port == "" {
			fmt.Fprintln(os.Stderr, "origin: set -addr or $PORT")
			os.Exit(2)
		}
		*addr = net.JoinHostPort("127.0.0.1", port)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, *addr); err != nil {
		fmt.Fprintf(os.Stderr, "origin: %v\n", err)
		os.Exit(1)
	}
}

// serve answers on addr until ctx ends, then drains for up to 5 s.
func serve(ctx context.Context, addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	srv := &http.Server{Handler: newHandler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 5 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

const (
	noStore   = "no-store"
	cacheable = "public, max-age=3600"
)

// handler serves the fixed bodies; served counts the benchmark requests.
type handler struct {
	body1k   []byte
	body100k []byte
	served   atomic.Int64
}

func newHandler() *handler {
	return &handler{body1k: body(1024), body100k: body(100 * 1024)}
}

// body returns n printable bytes.
func body(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return b
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	switch {
	case p == "/healthz":
		write(w, noStore, []byte("ok\n"))
	case p == "/_count":
		write(w, noStore, []byte(strconv.FormatInt(h.served.Load(), 10)))
	case p == "/pass/1k":
		h.served.Add(1)
		write(w, noStore, h.body1k)
	case p == "/hit/1k":
		h.served.Add(1)
		write(w, cacheable, h.body1k)
	case p == "/hit/100k":
		h.served.Add(1)
		write(w, cacheable, h.body100k)
	case strings.HasPrefix(p, "/mix/") && len(p) > len("/mix/"):
		h.served.Add(1)
		write(w, cacheable, h.body1k)
	default:
		http.NotFound(w, r)
	}
}

func write(w http.ResponseWriter, cacheControl string, b []byte) {
	hdr := w.Header()
	hdr["Cache-Control"] = []string{cacheControl}
	hdr["Content-Type"] = []string{"text/plain; charset=utf-8"}
	hdr["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.Write(b) //nolint:errcheck // the client went away; nothing to do
}
