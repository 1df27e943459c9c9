package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/tandem-run/tandem/internal/atomicfile"
)

// The benchmark program is also the app of tandem's stack: run with
// appEnv=1 it writes the DATABASE_URL tandem gave it to
// <appDirEnv>/url-<node>, readable by the benchmark only, and answers
// health checks on $PORT. That is how the benchmark learns the app
// role's generated password without it ever being printed.
const (
	appEnv    = "BENCH_FAILOVER_APP"
	appDirEnv = "BENCH_FAILOVER_DIR"
)

func serveApp() int {
	if err := appMain(); err != nil {
		fmt.Fprintln(os.Stderr, "bench failover app:", err)
		return 1
	}
	return 0
}

func appMain() error {
	url, node, dir := os.Getenv("DATABASE_URL"), os.Getenv("TANDEM_NODE"), os.Getenv(appDirEnv)
	if url == "" || node == "" || dir == "" {
		return errors.New("DATABASE_URL, TANDEM_NODE and " + appDirEnv + " must be set")
	}
	if err := atomicfile.Write(filepath.Join(dir, "url-"+node), []byte(url+"\n"), 0o600); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", os.Getenv("PORT")))
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
