package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/cli"
)

// The tests run the CLI in this process, through cli.Main as main does,
// with buffers for its output. Only TestUsageErrors runs the binary.

// cliTimeout bounds one CLI command; the longest are deploys.
const cliTimeout = 3 * time.Minute

// runCLI runs `tandem ARGS...` and returns its combined output and exit
// code. TestMain has cleared the TANDEM_* variables the CLI reads, so a
// token comes only from the flags.
func runCLI(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out syncBuffer
	code := runCLITo(t, &out, &out, args...)
	return out.String(), code
}

// runCLITo runs `tandem ARGS...` with its output to stdout and stderr.
func runCLITo(t *testing.T, stdout, stderr io.Writer, args ...string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	return cli.Main(ctx, args, strings.NewReader(""), stdout, stderr)
}

// adminArgs are the flags that point the CLI at n, with its root token.
func (n *node) adminArgs() []string {
	return []string{"--admin", n.admin, "--token-file", n.tokenFile}
}

// tandem runs the CLI against n with its root token: `tandem ARGS...
// --admin ADDR --token-file FILE` (the flags go before a "--", if any). It
// returns the combined output and the exit code.
func (n *node) tandem(args ...string) (string, int) {
	n.t.Helper()
	at := slices.Index(args, "--")
	if at < 0 {
		at = len(args)
	}
	return runCLI(n.t, slices.Concat(args[:at], n.adminArgs(), args[at:])...)
}

// cli runs `tandem SUBCOMMAND ARGS...` against n with its root token and
// returns its combined output and exit code.
func (n *node) cli(sub string, args ...string) (string, int) {
	n.t.Helper()
	return n.tandem(append([]string{sub}, args...)...)
}

// status asks the node through `tandem status --json`, as a user would.
func (n *node) status() (admin.Status, error) {
	var stdout, stderr bytes.Buffer
	if code := runCLITo(n.t, &stdout, &stderr, append([]string{"status", "--json"}, n.adminArgs()...)...); code != 0 {
		return admin.Status{}, fmt.Errorf("tandem status: exit %d: %s", code, stderr.String())
	}
	var st admin.Status
	if err := json.Unmarshal(stdout.Bytes(), &st); err != nil {
		return admin.Status{}, fmt.Errorf("decode status: %w\n%s", err, stdout.String())
	}
	return st, nil
}

// lineWriter calls each for every complete line written to it, as it
// comes. One goroutine writes to it at a time: the command's.
type lineWriter struct {
	part []byte // the line being written
	each func(line []byte)
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.part = append(w.part, p...)
	for {
		i := bytes.IndexByte(w.part, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.each(w.part[:i])
		w.part = w.part[i+1:]
	}
}
