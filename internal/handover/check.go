package handover

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// checkTimeout bounds each run of the binary CheckBinary checks.
const checkTimeout = 15 * time.Second

// Version is what `tandem version --json` prints.
type Version struct {
	Version  string `json:"version"`
	Handover int    `json:"handover"`
}

// CheckBinary checks that binary runs here, is a tandem binary that reads
// this handover Format, and accepts the stack file at stackFile; it
// returns the binary's version. Its errors say which check failed and
// how.
func CheckBinary(ctx context.Context, binary, stackFile string) (string, error) {
	out, err := runBinary(ctx, binary, "version", "--json")
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return "", fmt.Errorf("binary %s is not a tandem binary that can take a node over: %v", binary, err)
	case err != nil:
		return "", fmt.Errorf("binary %s cannot be run here: %v", binary, err)
	}
	var v Version
	if err := json.Unmarshal(out, &v); err != nil || v.Version == "" {
		return "", fmt.Errorf("binary %s: `version --json` printed %q: not a tandem binary that can take a node over", binary, firstLines(out, 1))
	}
	if v.Handover != Format {
		return "", fmt.Errorf("binary %s (version %s) reads handover format %d; this node writes format %d: restart the node with it instead",
			binary, v.Version, v.Handover, Format)
	}
	if _, err := runBinary(ctx, binary, "validate", "-f", stackFile); err != nil {
		return "", fmt.Errorf("binary %s (version %s) refuses the stack file %s: %v", binary, v.Version, stackFile, err)
	}
	return v.Version, nil
}

// runBinary runs binary with args, bounded by checkTimeout, and returns
// its standard output; a failure's error carries the start of its
// standard error.
func runBinary(ctx context.Context, binary string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w: %s", filepath.Base(binary), strings.Join(args, " "), err, firstLines(stderr.Bytes(), 5))
	}
	return out, nil
}

// firstLines returns up to n lines of b, joined by "; ".
func firstLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[:min(n, len(lines))], "; ")
}
