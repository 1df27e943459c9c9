// Package config owns the stack file: the YAML file that declares a tandem
// cluster, its edge and its apps. It decodes the file strictly (unknown
// fields, duplicate keys and values of the wrong kind are errors), expands
// ${VAR} references from the environment, applies defaults, resolves
// relative paths against the file's directory and validates every value,
// reporting all problems at once with their line and field path. Nothing in
// this package has side effects beyond reading files: a *Stack it returns is
// complete and checked before anyone acts on it.
//
// The file format is documented for users in docs/stack-file.md.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// MaxFileSize is the largest stack file Load and Parse accept.
const MaxFileSize = 1 << 20

// Load reads and parses the stack file at path. Relative paths in the file
// are resolved against the file's directory and ${VAR} references against
// the process environment. Problems with the file's content are returned as
// *Errors; a file that cannot be read is reported as a wrapped I/O error
// (errors.Is(err, fs.ErrNotExist) works).
func Load(path string) (*Stack, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load stack file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("load stack file: %w", err)
	}
	return Parse(path, data, filepath.Dir(path), os.LookupEnv)
}

// Parse decodes and validates a stack file held in data. name is used in
// messages only. Relative paths are resolved against baseDir (made absolute
// against the working directory if it is relative). env looks up the
// variables of ${VAR} references; nil means that no variable is set. On
// failure the error is an *Errors listing every problem found.
func Parse(name string, data []byte, baseDir string, env func(string) (string, bool)) (*Stack, error) {
	c := newCollector(name)
	root := parseYAML(c, data)
	if root == nil {
		return nil, c.err()
	}
	st := &Stack{File: name}
	st.setDefaults()
	d := newDecoder(c, env)
	d.decode(root, "", reflect.ValueOf(st).Elem())
	if d.stopped() {
		return nil, c.err()
	}
	st.AppNames = d.order["apps"]
	st.JobNames = d.order["jobs"]
	st.CheckNames = d.order["checks"]
	st.UpstreamNames = d.order["upstreams"]
	if st.Storage != nil {
		st.Storage.AppNames = d.order["storage.apps"]
	}
	dir, err := filepath.Abs(baseDir)
	if err != nil {
		c.add(0, "", "resolve base directory %q: %v", baseDir, err)
		return nil, c.err()
	}
	st.Dir = dir
	(&checker{c: c, st: st}).check()
	if err := c.err(); err != nil {
		return nil, err
	}
	return st, nil
}

// yamlLine finds the line in a yaml library message: "yaml: line 3: ...".
var yamlLine = regexp.MustCompile(`^yaml: (?:line (\d+): )?`)

// parseYAML checks the raw bytes and parses them into a single YAML
// document, returning its root mapping, or nil after reporting why not.
func parseYAML(c *collector, data []byte) *yaml.Node {
	if len(data) > MaxFileSize {
		c.add(0, "", "file is larger than %d bytes: refused", MaxFileSize)
		return nil
	}
	if line, msg := checkText(data); msg != "" {
		c.add(line, "", "%s", msg)
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		c.add(yamlErrorLine(err), "", "invalid YAML: %s", yamlLine.ReplaceAllString(err.Error(), ""))
		return nil
	}
	if len(doc.Content) == 0 {
		c.add(0, "", "the file is empty: a stack file needs at least an apps section")
		return nil
	}
	var next yaml.Node
	if err := dec.Decode(&next); !errors.Is(err, io.EOF) {
		line := 0
		if err == nil && len(next.Content) > 0 {
			line = next.Content[0].Line
		}
		c.add(line, "", "more than one YAML document (---): a stack file holds exactly one")
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		c.add(root.Line, "", "expected a mapping of sections (cluster, edge, admin, log, apps), got %s", describeNode(resolveAlias(root)))
		return nil
	}
	return root
}

// yamlErrorLine returns the line a yaml library error names. Errors that
// name no line are on the first line: the library omits line 0.
func yamlErrorLine(err error) int {
	m := yamlLine.FindStringSubmatch(err.Error())
	if m == nil || m[1] == "" {
		return 1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// checkText refuses input the YAML library would reject without saying
// where: invalid UTF-8 and control characters. It returns the line and a
// message, or "" when the text is fine.
func checkText(data []byte) (int, string) {
	line := 1
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			return line, "invalid UTF-8: a stack file must be UTF-8 text"
		case r == '\n':
			line++
		case r == '\t' || r == '\r' || (r == '\uFEFF' && i == 0):
		case r < 0x20 || r == 0x7F || (r >= 0x80 && r <= 0x9F && r != 0x85) || r == 0xFFFE || r == 0xFFFF || r == '\uFEFF':
			return line, fmt.Sprintf("control character %U not allowed", r)
		}
		i += size
	}
	return 0, ""
}
