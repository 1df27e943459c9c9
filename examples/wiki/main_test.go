package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func envFunc(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

func TestRunUsageAndConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want int
		log  string
	}{
		{"unknown command", []string{"frobnicate"}, nil, 2, ""},
		{"too many args", []string{"serve", "now"}, nil, 2, ""},
		{"help", []string{"help"}, nil, 0, ""},
		{"serve without PORT", nil, map[string]string{"WIKI_DATA": dir}, 2, "PORT is not set"},
		{"bad postgres URL", []string{"migrate"}, map[string]string{"DATABASE_URL": "postgres://db:port/wiki"}, 2,
			"DATABASE_URL"},
		{"migrate", []string{"migrate"}, map[string]string{"WIKI_DATA": dir}, 0, "schema up to date"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut strings.Builder
			if got := run(t.Context(), tc.args, envFunc(tc.env), &out, &errOut); got != tc.want {
				t.Errorf("run(%q) = %d; want %d\n%s%s", tc.args, got, tc.want, out.String(), errOut.String())
			}
			if !strings.Contains(out.String(), tc.log) {
				t.Errorf("run(%q) logged %q; want it to contain %q", tc.args, out.String(), tc.log)
			}
		})
	}
}

// TestServeAndShutdown runs the server as main does, checks it answers,
// and stops it the way SIGTERM does: by ending the context.
func TestServeAndShutdown(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	logr, logw := io.Pipe()
	env := map[string]string{"PORT": "0", "WIKI_DATA": t.TempDir(), "TANDEM_INSTANCE": "i-7"}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, nil, envFunc(env), logw, io.Discard)
		logw.Close()
	}()

	lines := bufio.NewScanner(logr)
	var addr string
	for addr == "" && lines.Scan() {
		var rec struct{ Msg, Addr, Port, Instance string }
		if err := json.Unmarshal(lines.Bytes(), &rec); err != nil {
			t.Fatalf("log line %q is not JSON: %v", lines.Text(), err)
		}
		if rec.Msg == "listening" {
			addr = rec.Addr
			if rec.Port != "0" || rec.Instance != "i-7" {
				t.Errorf("start line = %s; want port 0 and instance i-7", lines.Text())
			}
		}
	}
	if addr == "" {
		t.Fatal("server logged no listening line")
	}
	_, port, _ := net.SplitHostPort(addr)
	resp, err := http.Get("http://127.0.0.1:" + port + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Instance") != "i-7" {
		t.Errorf("GET /healthz = %d, X-Instance %q; want 200, i-7", resp.StatusCode, resp.Header.Get("X-Instance"))
	}

	cancel()
	var rest strings.Builder
	for lines.Scan() {
		rest.WriteString(lines.Text() + "\n")
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("run after shutdown = %d; want 0\n%s", code, rest.String())
		}
	case <-time.After(shutdownTimeout + 5*time.Second):
		t.Fatal("server did not stop")
	}
	if !strings.Contains(rest.String(), `"msg":"stopped"`) {
		t.Errorf("no stopped line in %s", rest.String())
	}
}

// TestMigrateProcesses runs `wiki migrate` in several processes at once on
// one new file, the way several instances or nodes start together.
func TestMigrateProcesses(t *testing.T) {
	if cmd := os.Getenv("WIKI_TEST_RUN"); cmd != "" {
		os.Exit(run(context.Background(), []string{cmd}, os.Getenv, os.Stdout, os.Stderr))
	}
	db := filepath.Join(t.TempDir(), "wiki.db")
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestMigrateProcesses$")
			cmd.Env = append(os.Environ(), "WIKI_TEST_RUN=migrate", "DATABASE_URL=sqlite://"+db)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("migrate process %d: %v\n%s", i, err, out)
			}
		})
	}
	wg.Wait()
	s, err := OpenStore(t.Context(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ms, _ := migrations(sqliteDialect)
	var count int
	if err := s.db.QueryRow("SELECT COUNT(*) FROM schema_version").Scan(&count); err != nil || count != len(ms) {
		t.Errorf("schema_version rows = %d, %v; want %d", count, err, len(ms))
	}
}
