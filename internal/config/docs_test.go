package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// docsPath is the user reference for the stack file.
const docsPath = "../../docs/stack-file.md"

// TestDocsListEveryField fails when a field of the stack file is missing
// from the reference.
func TestDocsListEveryField(t *testing.T) {
	doc, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatalf("read reference: %v", err)
	}
	d := newDecoder(newCollector(""), nil)
	var leaves []string
	var walk func(prefix string, typ reflect.Type)
	walk = func(prefix string, typ reflect.Type) {
		for typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		switch {
		case typ.Kind() == reflect.Map && typ.Elem().Kind() == reflect.Pointer:
			walk(prefix+".<name>", typ.Elem())
		case typ.Kind() == reflect.Slice && !isScalarType(reflect.New(typ.Elem()).Elem()):
			walk(prefix+"[]", typ.Elem())
		case typ.Kind() == reflect.Struct && !isScalarType(reflect.New(typ).Elem()):
			fs := d.fieldsOf(typ)
			for _, name := range fs.names {
				walk(joinPath(prefix, name), typ.Field(fs.index[name]).Type)
			}
		default:
			leaves = append(leaves, prefix)
		}
	}
	walk("", reflect.TypeFor[Stack]())
	if len(leaves) < 40 {
		t.Fatalf("found only %d fields: %q", len(leaves), leaves)
	}
	for _, p := range leaves {
		if !strings.Contains(string(doc), "| `"+p+"` |") {
			t.Errorf("%s has no row for field %s", docsPath, p)
		}
	}
}

// TestDocsExampleParses keeps the reference's full example valid and its
// comments' defaults true.
func TestDocsExampleParses(t *testing.T) {
	doc, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatalf("read reference: %v", err)
	}
	_, rest, ok := strings.Cut(string(doc), "## A full example")
	_, rest, ok2 := strings.Cut(rest, "```yaml\n")
	example, _, ok3 := strings.Cut(rest, "```")
	if !ok || !ok2 || !ok3 {
		t.Fatal("no yaml block under \"## A full example\"")
	}
	full, err := parse(t, example)
	if err != nil {
		t.Fatalf("Parse(full example): %v", err)
	}
	// The example spells out the defaults of these sections.
	min, err := parse(t, "cluster: { node: n }\napps: { web: { command: [x] } }\n")
	if err != nil {
		t.Fatal(err)
	}
	if full.Edge.Timeouts != min.Edge.Timeouts || full.Edge.Limits != min.Edge.Limits || full.Admin != min.Admin || full.Log != min.Log {
		t.Errorf("example edge/admin/log = %+v %+v %+v %+v; want the defaults %+v %+v %+v %+v",
			full.Edge.Timeouts, full.Edge.Limits, full.Admin, full.Log, min.Edge.Timeouts, min.Edge.Limits, min.Admin, min.Log)
	}
	web, def := full.Apps["web"], min.Apps["web"]
	if web.Health != (HealthCheck{Path: "/healthz", Interval: def.Health.Interval, Timeout: def.Health.Timeout, Rise: def.Health.Rise,
		Fall: def.Health.Fall, Startup: def.Health.Startup, RestartAfter: def.Health.RestartAfter}) ||
		web.Stop != def.Stop || web.Restart != def.Restart || web.Retries != def.Retries {
		t.Errorf("example app web = %+v; want the default health, stop, restart and retries of %+v", web, def)
	}
	if got := web.Dir; got != filepath.Clean(full.Dir) {
		t.Errorf("dir: . = %q; want %q", got, full.Dir)
	}
}
