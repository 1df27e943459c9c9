package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadStackFileRefused: a malformed or hostile stack file is refused by
// `validate` and by `up` with a message naming the field, and nothing
// starts: the app command would create a marker file if it ever ran.
func TestBadStackFileRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		stack string
		want  []string // substrings of the error output
	}{
		{"unknown field", `
apps:
  web:
    command: ["{{marker}}"]
    instancs: 3
`, []string{"apps.web.instancs", "unknown field"}},
		{"negative count", `
apps:
  web:
    command: ["{{marker}}"]
    instances: -1
`, []string{"apps.web.instances"}},
		{"duplicate app", `
apps:
  web:
    command: ["{{marker}}"]
  web:
    command: ["{{marker}}"]
`, []string{"web"}},
		{"bad duration", `
apps:
  web:
    command: ["{{marker}}"]
    health: { interval: fast }
`, []string{"apps.web.health.interval"}},
		{"missing command", `
apps:
  web:
    instances: 2
`, []string{"apps.web.command"}},
		{"several problems at once", `
edge: { listen: "{{edge}}", timeouts: { idle: -5s } }
apps:
  web:
    command: []
    instances: 1000
`, []string{"apps.web.command", "apps.web.instances", "edge.timeouts.idle"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			marker := filepath.Join(dir, "ran")
			script := filepath.Join(dir, "app.sh")
			os.WriteFile(script, []byte("#!/bin/sh\ntouch "+marker+"\nexec sleep 60\n"), 0o755)
			stack := strings.NewReplacer("{{marker}}", script, "{{edge}}", freeAddr(t)).Replace(tt.stack)
			file := filepath.Join(dir, "stack.yaml")
			os.WriteFile(file, []byte("admin: { listen: \""+freeAddr(t)+"\" }\n"+stack), 0o644)

			for _, verb := range []string{"validate", "up"} {
				out, code := runCLI(t, verb, "-f", file)
				if code != 2 {
					t.Fatalf("tandem %s: exit %d; want exit code 2\n%s", verb, code, out)
				}
				for _, w := range tt.want {
					if !strings.Contains(out, w) {
						t.Errorf("tandem %s output does not name %q:\n%s", verb, w, out)
					}
				}
				if !strings.Contains(out, "stack.yaml:") {
					t.Errorf("tandem %s output has no file:line:\n%s", verb, out)
				}
			}
			if _, err := os.Stat(marker); err == nil {
				t.Error("the app ran although the stack file is invalid")
			}
		})
	}
}

// TestValidateGoodFile: a valid file passes with exit code 0.
func TestValidateGoodFile(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "stack.yaml")
	os.WriteFile(file, []byte(stackVars(t, threeInstances, freeAddr(t), freeAddr(t))), 0o644)
	out, code := runCLI(t, "validate", "-f", file)
	if code != 0 {
		t.Fatalf("tandem validate: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "ok") {
		t.Errorf("tandem validate output %q; want ok", out)
	}
}

// TestUsageErrors: unknown commands and flags exit 2; an unreachable node
// exits 3 with advice. Scripts branch on the exit codes of the process:
// this test runs the binary.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"frobnicate"}, {"status", "--no-such-flag"}} {
		out, err := exec.Command(tandemBin, args...).CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("tandem %v: err %v; want exit code 2\n%s", args, err, out)
		}
	}
	out, err := exec.Command(tandemBin, "status", "--admin", freeAddr(t)).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 || !strings.Contains(string(out), "tandem up") {
		t.Errorf("tandem status against nothing: err %v; want exit code 3 and advice\n%s", err, out)
	}
}
