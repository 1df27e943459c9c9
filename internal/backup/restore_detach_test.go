package backup

import (
	"os"
	"path/filepath"
	"testing"
)

// TestDetachConfig: a restored copy's postgresql.conf no longer includes
// the production member's configuration; its other lines stay.
func TestDetachConfig(t *testing.T) {
	p := filepath.Join(t.TempDir(), "postgresql.conf")
	in := "# Written by tandem\ninclude '/var/lib/tandem/postgres/conf/postgresql.conf'\n  INCLUDE_DIR 'conf.d'\ninclude_if_exists='x'\n\tinclude\t'y'\nwork_mem = '4MB'\ninclude_whatever = 1\n"
	if err := os.WriteFile(p, []byte(in), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := detachConfig(p); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	want := "# Written by tandem\n# restored copy, not included: include '/var/lib/tandem/postgres/conf/postgresql.conf'\n" +
		"# restored copy, not included:   INCLUDE_DIR 'conf.d'\n# restored copy, not included: include_if_exists='x'\n# restored copy, not included: \tinclude\t'y'\nwork_mem = '4MB'\ninclude_whatever = 1\n"
	if string(got) != want {
		t.Errorf("detachConfig:\n%s\nwant\n%s", got, want)
	}
	if err := detachConfig(filepath.Join(t.TempDir(), "absent.conf")); err != nil {
		t.Errorf("detachConfig(absent) = %v; want nil", err)
	}
}
