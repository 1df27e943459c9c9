package layers

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/tandem-run/tandem/"

// owners names, for each third-party system, the packages that may import
// it (by import path prefix): one home each, or a second where a system is
// the point of both (PostgreSQL's client drives the database in pgha and
// checks restored copies in backup; SQLite is the wiki's store and one of
// backup's file kinds, copied with VACUUM INTO; unix is the supervisor's
// process control and backup's socket credentials and free space). No
// owner: tests only. Test files are not checked: a test may use what it
// needs.
var owners = map[string][]string{
	"go.etcd.io/etcd/":                  {"internal/cluster"},
	"go.uber.org/zap":                   {"internal/cluster"},
	"google.golang.org/grpc":            {"internal/cluster"},
	"github.com/prometheus/":            {"internal/telemetry"},
	"go.opentelemetry.io/":              {"internal/telemetry"},
	"go.yaml.in/yaml/":                  {"internal/config"},
	"github.com/maypok86/otter/":        {"internal/httpcache"},
	"github.com/spf13/cobra":            {"internal/cli"},
	"golang.org/x/sys/unix":             {"internal/supervise", "internal/backup"},
	"github.com/jackc/":                 {"internal/pgha", "internal/backup"},
	"github.com/aws/":                   {"internal/backup", "internal/backup/s3test"}, // s3test: the tests' store
	"github.com/miekg/dns":              {"internal/sitedns"},
	"github.com/versity/":               {"internal/storage"},
	"github.com/Shopify/toxiproxy/":     nil,
	"modernc.org/sqlite":                {"examples/wiki", "internal/backup"},
	"github.com/anishathalye/porcupine": nil,
}

// examples may import what they need besides: each is a user's program,
// not a part of tandem, and shows that program working with tandem (the
// wiki stores its uploads through the AWS SDK, as any app would).
var examples = map[string]string{
	"github.com/aws/": "examples/wiki",
}

// forbidden lists, for each package, internal packages it must never
// import (directly).
var forbidden = map[string][]string{
	"internal/edge":      {"internal/node", "internal/apprun", "internal/cluster", "internal/admin", "internal/deploy", "internal/supervise"},
	"internal/cluster":   {"internal/node", "internal/apprun", "internal/edge", "internal/balance", "internal/httpcache", "internal/admin", "internal/deploy", "internal/peer", "internal/purge"},
	"internal/deploy":    {"internal/node", "internal/apprun", "internal/admin", "internal/cluster", "internal/edge", "internal/balance", "internal/supervise", "internal/peer"},
	"internal/admin":     {"internal/node", "internal/cli", "internal/peer"},
	"internal/balance":   {"internal/edge", "internal/httpcache", "internal/node", "internal/cluster", "internal/apprun"},
	"internal/httpcache": {"internal/edge", "internal/balance", "internal/node", "internal/cluster"},
	"internal/supervise": {"internal/node", "internal/apprun", "internal/deploy", "internal/edge", "internal/balance", "internal/cluster"},
	"internal/apprun":    {"internal/node", "internal/admin", "internal/peer", "internal/purge", "internal/cli"},
	"internal/peer":      {"internal/node", "internal/admin"},
	"internal/purge":     {"internal/node", "internal/admin", "internal/apprun"},
	"internal/backuprun": {"internal/node", "internal/config", "internal/apprun", "internal/cli", "internal/edge"},
	"internal/config":    {"internal/node", "internal/edge", "internal/cluster", "internal/apprun", "internal/admin"},
	"internal/telemetry": {"internal/node", "internal/edge", "internal/apprun", "internal/admin", "internal/cluster"},
	"internal/cron":      {"internal/node", "internal/cluster", "internal/apprun"},
	"internal/uptime":    {"internal/node", "internal/cluster", "internal/apprun"},
	"internal/cli":       {"internal/cluster", "internal/apprun", "internal/edge", "internal/supervise"},
	"internal/sites":     {"internal/node", "internal/admin", "internal/cli", "internal/apprun", "internal/edge", "internal/peer", "internal/supervise"},
	"internal/sitedns":   {"internal/node", "internal/edge", "internal/apprun", "internal/admin", "internal/config"},
	"internal/siteproxy": {"internal/node", "internal/edge", "internal/apprun", "internal/admin", "internal/config", "internal/cluster"},
	"internal/handover":  {"internal/node", "internal/cli", "internal/edge", "internal/apprun", "internal/cluster", "internal/config"},
}

// TestImportRules fails on an import the rules above forbid.
func TestImportRules(t *testing.T) {
	root := filepath.Join("..", "..")
	imports := packageImports(t, root)
	if len(imports) < 10 {
		t.Fatalf("found %d packages under %s; the walk is broken", len(imports), root)
	}
	for pkg, imps := range imports {
		for _, imp := range imps {
			for prefix, owner := range owners {
				if strings.HasPrefix(imp, prefix) && !slices.Contains(owner, pkg) && examples[prefix] != pkg {
					t.Errorf("%s imports %s; only %s may (each third-party system has its home)", pkg, imp, ownerNames(owner))
				}
			}
			if rel, ok := strings.CutPrefix(imp, module); ok && slices.Contains(forbidden[pkg], rel) {
				t.Errorf("%s imports %s, which it must not (see docs/design.md)", pkg, rel)
			}
		}
	}
}

func ownerNames(owner []string) string {
	if len(owner) == 0 {
		return "tests"
	}
	return strings.Join(owner, " and ")
}

// packageImports parses every non-test Go file of the module's packages
// and returns each package's imports, by its path relative to the module.
func packageImports(t *testing.T, root string) map[string][]string {
	t.Helper()
	out := make(map[string][]string)
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path == filepath.Join(root, "examples") || path == filepath.Join(root, "bench") {
				return filepath.SkipDir // programs of their own: the user's app, the benchmark harness
			}
			if name := d.Name(); name == "testdata" || name == "node_modules" || strings.HasPrefix(name, ".") && path != root {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		pkg := filepath.ToSlash(rel)
		for _, imp := range f.Imports {
			p, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				return err
			}
			out[pkg] = append(out[pkg], p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
