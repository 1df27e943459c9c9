package admin

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"strings"
	"testing"
)

// TestVendoredChartLibrary: the files under ui/vendor are exactly the
// ones scripts/ui-vendor copied from the uplot package that
// web/package-lock.json locks. A hand edit of a vendored file, a lock file
// moved to another version without re-running the script, or a file added
// to ui/vendor without the script all fail here.
func TestVendoredChartLibrary(t *testing.T) {
	sums, err := fs.ReadFile(uiFiles, "ui/vendor/SHA256SUMS")
	if err != nil {
		t.Fatal(err)
	}
	var pkg, version, integrity string
	listed := map[string]bool{"SHA256SUMS": true}
	sc := bufio.NewScanner(strings.NewReader(string(sums)))
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(strings.TrimPrefix(line, "#")); strings.HasPrefix(line, "#") && len(f) == 3 {
			pkg, version, integrity = f[0], f[1], f[2]
			continue
		}
		sum, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("SHA256SUMS line %q: want \"<sha256>  <file>\"", line)
		}
		body, err := fs.ReadFile(uiFiles, "ui/vendor/"+name)
		if err != nil {
			t.Errorf("SHA256SUMS lists %s: %v", name, err)
			continue
		}
		got := sha256.Sum256(body)
		if hex.EncodeToString(got[:]) != sum {
			t.Errorf("sha256(ui/vendor/%s) = %x; want %s (run scripts/ui-vendor)", name, got, sum)
		}
		listed[name] = true
	}
	entries, err := fs.ReadDir(uiFiles, "ui/vendor")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !listed[e.Name()] {
			t.Errorf("ui/vendor/%s is not in SHA256SUMS (run scripts/ui-vendor)", e.Name())
		}
	}

	b, err := os.ReadFile("../../web/package-lock.json")
	if err != nil {
		t.Fatal(err)
	}
	var lock struct {
		Packages map[string]struct {
			Version   string `json:"version"`
			Integrity string `json:"integrity"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(b, &lock); err != nil {
		t.Fatalf("decode web/package-lock.json: %v", err)
	}
	locked, ok := lock.Packages["node_modules/"+pkg]
	if pkg == "" || !ok {
		t.Fatalf("SHA256SUMS names package %q, which web/package-lock.json does not lock", pkg)
	}
	if locked.Version != version || locked.Integrity != integrity {
		t.Errorf("vendored %s %s (%s); web/package-lock.json locks %s (%s): run scripts/ui-vendor", pkg, version, integrity, locked.Version, locked.Integrity)
	}
}
