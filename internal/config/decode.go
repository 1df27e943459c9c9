package config

import (
	"encoding"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxVisits bounds how many YAML values one decode may visit, counting every
// use of an alias anew. A real stack file has a few hundred; a file of
// nested aliases ("billion laughs") would otherwise expand exponentially.
const maxVisits = 200_000

// maxMergeDepth bounds chains of merge keys (<<: *a where a merges *b ...).
const maxMergeDepth = 32

// decoder copies a yaml.Node tree into Go values strictly: struct fields are
// matched by their yaml tag, unknown keys, duplicate keys and values of the
// wrong kind are problems, and ${VAR} references in scalar values are
// expanded. It reports every problem to its collector and keeps going, so
// that one run finds them all. Values the file leaves out keep what the
// destination held (the defaults); a null value counts as left out for
// mappings and lists and as a problem for scalars.
type decoder struct {
	c   *collector
	env func(string) (string, bool)

	visits    int
	aborted   bool                    // too many visits; stop everything
	expanding map[*yaml.Node]bool     // alias targets being decoded, to refuse cycles
	merging   map[*yaml.Node]bool     // mappings whose keys are being listed, to refuse cycles
	fields    map[reflect.Type]fields // per struct type, built on first use
	order     map[string][]string     // map path -> keys in file order
}

// defaulter is implemented by types whose fresh values need defaults: map
// and list elements and optional sections.
type defaulter interface{ setDefaults() }

func newDecoder(c *collector, env func(string) (string, bool)) *decoder {
	return &decoder{
		c:         c,
		env:       env,
		expanding: make(map[*yaml.Node]bool),
		merging:   make(map[*yaml.Node]bool),
		fields:    make(map[reflect.Type]fields),
		order:     make(map[string][]string),
	}
}

// stopped reports whether decoding should end early.
func (d *decoder) stopped() bool { return d.aborted || d.c.full }

// visit counts one value and reports false once the budget is spent.
func (d *decoder) visit(n *yaml.Node) bool {
	if d.stopped() {
		return false
	}
	d.visits++
	if d.visits > maxVisits {
		d.c.add(n.Line, "", "the document expands to more than %d values (aliases used too often?): refused", maxVisits)
		d.aborted = true
		return false
	}
	return true
}

// decode stores n into v, which must be settable.
func (d *decoder) decode(n *yaml.Node, path string, v reflect.Value) {
	if !d.visit(n) {
		return
	}
	if n.Kind == yaml.AliasNode {
		target := n.Alias
		if d.expanding[target] {
			d.c.add(n.Line, path, "alias *%s refers to a value that contains it", n.Value)
			return
		}
		d.expanding[target] = true
		defer delete(d.expanding, target)
		d.decode(target, path, v)
		return
	}
	if tag := n.Tag; strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!") || tag == "!!binary" {
		d.c.add(n.Line, path, "unsupported YAML tag %s", tag)
		return
	}
	if isScalarType(v) {
		d.scalar(n, path, v)
		return
	}
	if isNull(n) {
		return // left out: keep the defaults
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(newValue(v.Type().Elem()).Addr())
		}
		d.decode(n, path, v.Elem())
	case reflect.Struct:
		d.structure(n, path, v)
	case reflect.Map:
		d.mapping(n, path, v)
	case reflect.Slice:
		d.sequence(n, path, v)
	default:
		panic(fmt.Sprintf("config: no decoding for %s", v.Type())) // a schema type this decoder does not know
	}
}

// structure decodes a mapping into a struct by yaml tag.
func (d *decoder) structure(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.mismatch(n, path, v)
		return
	}
	fs := d.fieldsOf(v.Type())
	for _, p := range d.pairs(n, path, 0) {
		fp := joinPath(path, p.key.Value)
		i, ok := fs.index[p.key.Value]
		if !ok {
			d.c.add(p.key.Line, fp, "unknown field%s", d.suggestField(v.Type(), p.key.Value))
			continue
		}
		d.c.lines[fp] = p.key.Line
		d.decode(p.val, fp, v.Field(i))
	}
}

// mapping decodes a mapping into a map with string keys, remembering the
// keys' order.
func (d *decoder) mapping(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.mismatch(n, path, v)
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	elemType := v.Type().Elem()
	for _, p := range d.pairs(n, path, 0) {
		key := p.key.Value
		fp := joinPath(path, key)
		d.c.lines[fp] = p.key.Line
		if hint := d.misplacedField(path, elemType, key, p.val); hint != "" {
			d.c.add(p.key.Line, fp, "%s", hint)
			continue
		}
		elem := newValue(elemType)
		if elemType.Kind() == reflect.Pointer {
			elem.Set(newValue(elemType.Elem()).Addr())
		}
		d.decode(p.val, fp, elem)
		v.SetMapIndex(reflect.ValueOf(key), elem)
		d.order[path] = append(d.order[path], key)
	}
}

// sequence decodes a list into a slice.
func (d *decoder) sequence(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.SequenceNode {
		d.mismatch(n, path, v)
		return
	}
	s := reflect.MakeSlice(v.Type(), 0, len(n.Content))
	for i, item := range n.Content {
		ip := fmt.Sprintf("%s[%d]", path, i)
		d.c.lines[ip] = item.Line
		elem := newValue(v.Type().Elem())
		d.decode(item, ip, elem)
		s = reflect.Append(s, elem)
	}
	v.Set(s)
}

// scalar decodes a scalar after expanding ${VAR} references.
func (d *decoder) scalar(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.ScalarNode {
		d.mismatch(n, path, v)
		return
	}
	if isNull(n) {
		d.c.add(n.Line, path, "missing value: expected %s", describeType(v.Type()))
		return
	}
	if taggedString(n) && isTextless(v) {
		d.c.add(n.Line, path, "expected %s, got %q tagged !!str: drop the tag", describeType(v.Type()), n.Value)
		return
	}
	text, expanded, err := expand(n.Value, d.env)
	if err != nil {
		d.c.add(n.Line, path, "%v", err)
		return
	}
	if err := setScalar(v, text); err != nil {
		msg := err.Error()
		if expanded {
			// Say which reference produced the bad value without printing
			// the value itself: it may be a secret.
			msg = strings.ReplaceAll(msg, strconv.Quote(text), strconv.Quote(n.Value)) + " (after expanding variables)"
		}
		d.c.add(n.Line, path, "%s", msg)
	}
}

// mismatch reports a value of the wrong kind.
func (d *decoder) mismatch(n *yaml.Node, path string, v reflect.Value) {
	if v.Kind() == reflect.Slice && n.Kind == yaml.ScalarNode {
		d.c.add(n.Line, path, "must be a list, e.g. %s", listForm(n.Value))
		return
	}
	d.c.add(n.Line, path, "expected %s, got %s", describeType(v.Type()), describeNode(n))
}

// misplacedField returns a hint when a map of sections (like apps) holds a
// key that is a field of the section rather than a name, with a value that
// is not a section: "apps: {command: [...]}" instead of "apps: {web: {...}}".
func (d *decoder) misplacedField(path string, elemType reflect.Type, key string, val *yaml.Node) string {
	for elemType.Kind() == reflect.Pointer {
		elemType = elemType.Elem()
	}
	if elemType.Kind() != reflect.Struct || resolveAlias(val).Kind == yaml.MappingNode {
		return ""
	}
	if _, ok := d.fieldsOf(elemType).index[key]; !ok {
		return ""
	}
	return fmt.Sprintf("%q is a field, not a name: nest it under a name, e.g. %s", key, joinPath(path, "<name>."+key))
}

// newValue returns a settable zero value of t with its defaults applied.
func newValue(t reflect.Type) reflect.Value {
	v := reflect.New(t).Elem()
	if df, ok := v.Addr().Interface().(defaulter); ok {
		df.setDefaults()
	}
	return v
}

// isNull reports whether n is an explicit or implicit null ("key:" alone).
func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// taggedString reports whether n is a scalar the file tags !!str
// explicitly: a value that says it is a string.
func taggedString(n *yaml.Node) bool {
	return n.Style&yaml.TaggedStyle != 0 && n.ShortTag() == "!!str"
}

// isTextless reports whether v holds a number or a boolean: a value a
// string must not stand for.
func isTextless(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Int, reflect.Float64, reflect.Bool:
		return v.Type() != signalType && v.Type() != levelType
	}
	return false
}

// resolveAlias follows aliases to the value they name.
func resolveAlias(n *yaml.Node) *yaml.Node {
	for i := 0; n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// joinPath appends a key to a dotted path.
func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// describeNode says what kind of value n is, for messages.
func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "nothing"
		}
		return strconv.Quote(n.Value)
	}
	return "an unsupported YAML node"
}

// describeType says what a value of type t is written as, for messages.
func describeType(t reflect.Type) string {
	switch t {
	case durationType:
		return "a duration (e.g. 2s)"
	case sizeType:
		return "a size (e.g. 512MiB)"
	case signalType:
		return "a signal name (e.g. SIGTERM)"
	case prefixType:
		return "an IP address or CIDR (e.g. 10.0.0.0/8)"
	case levelType:
		return "a log level (debug, info, warn or error)"
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Struct, reflect.Map:
		return "a mapping"
	case reflect.Slice:
		return "a list"
	case reflect.Int:
		return "an integer"
	case reflect.Float64:
		return "a number"
	}
	return "a string"
}

// listForm shows a scalar the way it should have been written as a list:
// "bin/wiki serve" -> ["bin/wiki", "serve"].
func listForm(s string) string {
	words := strings.Fields(s)
	if len(words) == 0 {
		return `["..."]`
	}
	if len(words) > 8 {
		words = append(words[:8], "...")
	}
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = strconv.Quote(w)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

var _ encoding.TextUnmarshaler = (*Duration)(nil)
var _ encoding.TextUnmarshaler = (*Size)(nil)
