package config

import (
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// pair is one key and its value in a YAML mapping.
type pair struct{ key, val *yaml.Node }

// pairs lists the entries of mapping n with merge keys applied: the
// mapping's own keys first in file order, then keys merged in with "<<"
// that it does not set itself (earlier merge sources win, as in YAML 1.1).
// A key written twice is a problem naming both lines.
func (d *decoder) pairs(n *yaml.Node, path string, depth int) []pair {
	if d.merging[n] {
		d.c.add(n.Line, path, "merge (<<) refers to a mapping that contains it")
		return nil
	}
	d.merging[n] = true
	defer delete(d.merging, n)

	seen := make(map[string]*yaml.Node)
	var out []pair
	var merges []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolveAlias(n.Content[i]), n.Content[i+1]
		if !d.visit(k) {
			return out
		}
		if k.Kind != yaml.ScalarNode {
			d.c.add(k.Line, path, "keys must be plain strings, got %s", describeNode(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			merges = append(merges, v)
			continue
		}
		if first, dup := seen[k.Value]; dup {
			d.c.note(k.Line, joinPath(path, k.Value), "duplicate key %q (first defined on line %d)", k.Value, first.Line)
			continue
		}
		seen[k.Value] = k
		out = append(out, pair{k, v})
	}
	for _, m := range merges {
		out = d.merge(out, seen, m, path, depth)
	}
	return out
}

// merge appends the entries of a merge source (a mapping or a list of
// mappings) that are not yet in seen.
func (d *decoder) merge(out []pair, seen map[string]*yaml.Node, src *yaml.Node, path string, depth int) []pair {
	if depth >= maxMergeDepth {
		d.c.add(src.Line, path, "merges (<<) nested more than %d deep", maxMergeDepth)
		return out
	}
	src = resolveAlias(src)
	var sources []*yaml.Node
	switch src.Kind {
	case yaml.MappingNode:
		sources = []*yaml.Node{src}
	case yaml.SequenceNode:
		sources = src.Content
	default:
		d.c.add(src.Line, path, "merge (<<) needs a mapping or a list of mappings, got %s", describeNode(src))
		return out
	}
	for _, s := range sources {
		s = resolveAlias(s)
		if s.Kind != yaml.MappingNode {
			d.c.add(s.Line, path, "merge (<<) needs a mapping or a list of mappings, got %s", describeNode(s))
			continue
		}
		for _, p := range d.pairs(s, path, depth+1) {
			if _, ok := seen[p.key.Value]; !ok {
				seen[p.key.Value] = p.key
				out = append(out, p)
			}
		}
	}
	return out
}

// fields maps the yaml names of a struct's fields to their index.
type fields struct {
	index map[string]int
	names []string // in declaration order
}

// fieldsOf returns the yaml fields of struct type t.
func (d *decoder) fieldsOf(t reflect.Type) fields {
	if fs, ok := d.fields[t]; ok {
		return fs
	}
	fs := fields{index: make(map[string]int)}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		fs.index[name] = i
		fs.names = append(fs.names, name)
	}
	d.fields[t] = fs
	return fs
}
