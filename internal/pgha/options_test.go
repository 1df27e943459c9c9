package pgha

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/cluster"
)

// validOptions are options New accepts on this machine (the store is not
// used before Run).
func validOptions(t *testing.T, dir string) Options {
	t.Helper()
	store, err := cluster.NewDatabaseStore(nil, "/tandem/test/", "pg")
	if err != nil {
		t.Fatal(err)
	}
	return Options{
		Name: "a", Members: []string{"a", "b"}, DataDir: dir, Advertise: "127.0.0.1",
		Store: store, TLS: TLS{CA: []byte("ca"), Cert: []byte("cert"), Key: []byte("key")},
	}
}

func TestOptionsRefused(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Options)
		want   string // in the error
	}{
		{"owned parameter", func(o *Options) { o.Parameters = map[string]string{"port": "1"} }, "parameters.port: set by tandem"},
		{"owned parameter, any case", func(o *Options) { o.Parameters = map[string]string{"Synchronous_Standby_Names": "*"} }, "parameters.Synchronous_Standby_Names: set by tandem"},
		{"bad parameter name", func(o *Options) { o.Parameters = map[string]string{"a b": "1"} }, "parameters.a b: not a PostgreSQL parameter name"},
		{"line break in a value", func(o *Options) { o.Parameters = map[string]string{"work_mem": "1\nport = 1"} }, "line break"},
		{"wal_level minimal", func(o *Options) { o.Parameters = map[string]string{"wal_level": "minimal"} }, "wal_level"},
		{"asynchronous commit in synchronous mode", func(o *Options) { o.Parameters = map[string]string{"synchronous_commit": "off"} }, "synchronous_commit"},
		{"member not listed", func(o *Options) { o.Members = []string{"b"} }, "members:"},
		{"bad member name", func(o *Options) { o.Members = []string{"a", "B/"} }, "members:"},
		{"no data dir", func(o *Options) { o.DataDir = "" }, "data_dir: must be set"},
		{"no advertise", func(o *Options) { o.Advertise = "" }, "advertise: must be set"},
		{"ttl too short", func(o *Options) { o.TTL = time.Second }, "ttl:"},
		{"no tls", func(o *Options) { o.TLS = TLS{} }, "tls:"},
		{"no store", func(o *Options) { o.Store = nil }, "store:"},
		{"bad archive mode", func(o *Options) { o.Archive.Mode = "sometimes" }, "archive.mode"},
		{"app user clash", func(o *Options) { o.AppUser = "replicator" }, "app_user"},
	}
	for _, tc := range tests {
		o := validOptions(t, t.TempDir())
		tc.change(&o)
		_, err := New(o)
		if !errors.Is(err, ErrOptions) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: New = %v; want ErrOptions mentioning %q", tc.name, err, tc.want)
		}
	}
	o := validOptions(t, t.TempDir())
	o.Asynchronous = true
	o.Parameters = map[string]string{"synchronous_commit": "off", "work_mem": "64MB"}
	if _, err := o.withDefaults(); err != nil {
		t.Errorf("asynchronous mode with synchronous_commit=off: %v; want accepted", err)
	}
}

func TestMissingPostgres(t *testing.T) {
	o := validOptions(t, t.TempDir())
	o.BinDir = t.TempDir() // no binaries there
	_, err := New(o)
	if !errors.Is(err, ErrNoPostgres) || !strings.Contains(err.Error(), "postgres") {
		t.Errorf("New with an empty bin dir = %v; want ErrNoPostgres naming the binary", err)
	}
	if _, err := FindInstall(t.Context(), "", ""); err != nil {
		t.Skipf("no PostgreSQL here for the user check: %v", err)
	}
	o = validOptions(t, t.TempDir())
	o.OSUser = "tandem-no-such-user"
	_, err = New(o)
	if !errors.Is(err, ErrNoPostgresUser) || !strings.Contains(err.Error(), "tandem-no-such-user") {
		t.Errorf("New with a missing user = %v; want ErrNoPostgresUser naming it", err)
	}
	o = validOptions(t, t.TempDir())
	o.OSUser = "root"
	if _, err = New(o); !errors.Is(err, ErrNoPostgresUser) {
		t.Errorf("New as root = %v; want ErrNoPostgresUser (postgres refuses root)", err)
	}
}

func TestDataDirOfAnotherUser(t *testing.T) {
	t.Parallel()
	needPostgres(t)
	dir := filepath.Join(testDir(t), "member")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "precious"), []byte("x"), 0o600)
	if err := os.Chown(dir, 65534, 65534); err != nil { // nobody
		t.Fatal(err)
	}
	_, err := New(validOptions(t, dir))
	if !errors.Is(err, ErrDataDirOwner) || !strings.Contains(err.Error(), "uid 65534") {
		t.Errorf("New on nobody's directory = %v; want ErrDataDirOwner naming the owner", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "precious")); err != nil {
		t.Errorf("the directory's file: %v; want it left alone", err)
	}
}

func TestDataDirUnreachable(t *testing.T) {
	t.Parallel()
	needPostgres(t)
	closed := filepath.Join(testDir(t), "closed")
	if err := os.Mkdir(closed, 0o700); err != nil { // root's, 0700: postgres cannot pass
		t.Fatal(err)
	}
	m, err := New(validOptions(t, filepath.Join(closed, "member")))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Run(t.Context()); !errors.Is(err, ErrDataDirAccess) || !strings.Contains(err.Error(), closed) {
		t.Errorf("Run under a closed directory = %v; want ErrDataDirAccess naming %s", err, closed)
	}
}

func TestSanitizeAutoConf(t *testing.T) {
	in := "# Do not edit\nwork_mem = '64MB'\nsynchronous_standby_names = ''\nPRIMARY_CONNINFO='host=x'\n  port=1\nbad line\n"
	out, dropped := sanitizeAutoConf([]byte(in))
	want := "# Do not edit\nwork_mem = '64MB'\nbad line\n"
	if string(out) != want {
		t.Errorf("sanitizeAutoConf = %q; want %q", out, want)
	}
	if strings.Join(dropped, ",") != "synchronous_standby_names,primary_conninfo,port" {
		t.Errorf("dropped = %v", dropped)
	}
}

func FuzzSanitizeAutoConf(f *testing.F) {
	f.Add("work_mem = '1MB'\nport = 5\n")
	f.Add("# c\n\n\tx=\n=y\n")
	f.Fuzz(func(t *testing.T, in string) {
		out, _ := sanitizeAutoConf([]byte(in))
		for line := range strings.Lines(string(out)) {
			if n := confLineName(line); n != "" && slices.Contains(OwnedParameters, n) {
				t.Fatalf("sanitizeAutoConf(%q) kept owned %q", in, n)
			}
		}
		again, dropped := sanitizeAutoConf(out)
		if string(again) != string(out) || len(dropped) != 0 {
			t.Fatalf("sanitizeAutoConf is not idempotent on %q", in)
		}
	})
}

func TestParseControlData(t *testing.T) {
	out := `pg_control version number:            1300
Database system identifier:           7716040902905465418
Database cluster state:               shut down in recovery
Latest checkpoint location:           0/3000060
Latest checkpoint's TimeLineID:       3
`
	cd, err := parseControlData([]byte(out))
	if err != nil || cd.SysID != 7716040902905465418 || cd.State != "shut down in recovery" || cd.Checkpoint != 0x3000060 || cd.Timeline != 3 {
		t.Fatalf("parseControlData = %+v, %v", cd, err)
	}
	if _, err := parseControlData([]byte("garbage")); !errors.Is(err, errControlData) {
		t.Errorf("parseControlData(garbage) = %v; want errControlData", err)
	}
}

func FuzzParseControlData(f *testing.F) {
	f.Add("Database system identifier: 1\nDatabase cluster state: x\nLatest checkpoint location: 0/1\nLatest checkpoint's TimeLineID: 1\n")
	f.Fuzz(func(t *testing.T, in string) {
		cd, err := parseControlData([]byte(in))
		if err == nil && cd.SysID == 0 {
			t.Fatalf("parseControlData(%q) accepted a zero system identifier", in)
		}
	})
}

func TestRenderConfQuotes(t *testing.T) {
	got := string(renderConf(map[string]string{"a": `it's \ here`, "b": "on"}))
	if !strings.Contains(got, `a = 'it''s \\ here'`) || !strings.Contains(got, "b = 'on'") {
		t.Errorf("renderConf = %q", got)
	}
}
