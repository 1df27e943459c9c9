package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/config"
	"github.com/tandem-run/tandem/internal/node"
)

// TestCredentialsOrder: --token, $TANDEM_TOKEN, --token-file,
// $TANDEM_TOKEN_FILE, then the root token of -f's stack, then none.
func TestCredentialsOrder(t *testing.T) {
	dir := t.TempDir()
	st := &config.Stack{Cluster: config.Cluster{DataDir: filepath.Join(dir, "data")}}
	write := func(path, content string) string {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	flagFile := write(filepath.Join(dir, "flag.token"), "from-flag-file\n")
	envFile := write(filepath.Join(dir, "env.token"), " from-env-file ")
	write(node.RootTokenFile(st), "from-root\n")
	tests := []struct {
		flag, flagFile, env, envFile string
		stack                        *config.Stack
		want                         string
	}{
		{"from-flag", flagFile, "from-env", envFile, st, "from-flag"},
		{"", flagFile, "from-env", envFile, st, "from-env"},
		{"", flagFile, "", envFile, st, "from-flag-file"},
		{"", "", "", envFile, st, "from-env-file"},
		{"", "", "", "", st, "from-root"},
		{"", "", "", "", nil, ""},
		{"", "", "", "", &config.Stack{Cluster: config.Cluster{DataDir: filepath.Join(dir, "never-started")}}, ""},
	}
	for _, tt := range tests {
		t.Setenv("TANDEM_TOKEN", tt.env)
		t.Setenv("TANDEM_TOKEN_FILE", tt.envFile)
		f := adminFlags{token: tt.flag, tokenFile: tt.flagFile}
		o, err := f.credentials(tt.stack)
		if err != nil || o.Token != tt.want {
			t.Errorf("credentials(--token %q, --token-file %q, $TANDEM_TOKEN %q, $TANDEM_TOKEN_FILE %q, stack %v) = %q, %v; want %q",
				tt.flag, tt.flagFile, tt.env, tt.envFile, tt.stack != nil, o.Token, err, tt.want)
		}
	}
	t.Setenv("TANDEM_TOKEN", "")
	t.Setenv("TANDEM_TOKEN_FILE", "")
	f := adminFlags{tokenFile: filepath.Join(dir, "missing")}
	if _, err := f.credentials(nil); exitCode(err) != ExitUsage {
		t.Errorf("credentials(missing --token-file) = %v; want a usage error", err)
	}
	f = adminFlags{tlsCA: flagFile}
	if _, err := f.credentials(nil); exitCode(err) != ExitUsage {
		t.Errorf("credentials(--tls-ca of a file without PEM) = %v; want a usage error", err)
	}
}

func TestExitCodeAuth(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{admin.Errorf(admin.ErrUnauthorized, "no token"), ExitFailure},
		{admin.Errorf(admin.ErrForbidden, "needs scope deploy"), ExitFailure},
		{admin.Errorf(admin.ErrBadRequest, "bad"), ExitUsage},
	}
	for _, tt := range tests {
		if got := exitCode(tt.err); got != tt.want {
			t.Errorf("exitCode(%v) = %d; want %d", tt.err, got, tt.want)
		}
	}
}
