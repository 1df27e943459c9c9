package config

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// FieldError is one problem found in a stack file.
type FieldError struct {
	File string // the stack file's name as given to Parse or Load
	Line int    // 1-based line in File; 0 when no single line is to blame
	Path string // dotted field path, e.g. "apps.web.health.interval"; "" for file-level problems
	Msg  string // what is wrong, lower case, no trailing period
}

// Error formats the problem as "file:line: path: msg", leaving out the parts
// that are unknown.
func (e *FieldError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one stack file. Parse and Load return it
// (as *Errors) whenever the file is refused; it is never empty.
type Errors struct {
	List []*FieldError // ordered by line; problems without a line last
}

// Error prints one problem per line.
func (e *Errors) Error() string {
	lines := make([]string, len(e.List))
	for i, fe := range e.List {
		lines[i] = fe.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap exposes each problem to errors.As and errors.Is.
func (e *Errors) Unwrap() []error {
	errs := make([]error, len(e.List))
	for i, fe := range e.List {
		errs[i] = fe
	}
	return errs
}

// maxErrors caps how many problems one file reports, so that a hostile file
// cannot make the report itself huge.
const maxErrors = 100

// collector gathers the problems of one file. Once a path has a problem, later
// problems for that path or any path below it are dropped: a value that could
// not be decoded would otherwise also be reported as missing or out of range.
type collector struct {
	file   string
	list   []*FieldError
	failed map[string]bool // paths whose problems hide later ones at or below them
	lines  map[string]int  // path -> line of its key or value, filled while decoding
	full   bool            // maxErrors reached
}

func newCollector(file string) *collector {
	return &collector{file: file, failed: make(map[string]bool), lines: make(map[string]int)}
}

// add records a problem at an explicit line.
func (c *collector) add(line int, path, format string, args ...any) {
	if c.note(line, path, format, args...) && path != "" {
		c.failed[path] = true
	}
}

// note records a problem that, unlike add's, does not hide later problems
// below path: a duplicate key's first definition is still checked. It
// reports whether the problem was recorded.
func (c *collector) note(line int, path, format string, args ...any) bool {
	if c.full || c.covered(path) {
		return false
	}
	if len(c.list) == maxErrors {
		c.list = append(c.list, &FieldError{File: c.file, Msg: fmt.Sprintf("too many problems, stopped after %d", maxErrors)})
		c.full = true
		return false
	}
	c.list = append(c.list, &FieldError{File: c.file, Line: line, Path: truncate(path), Msg: truncate(fmt.Sprintf(format, args...))})
	return true
}

// maxMsgLen caps the length of a message or path, which may quote values
// from the file.
const maxMsgLen = 400

// truncate shortens s to about maxMsgLen bytes on a rune boundary.
func truncate(s string) string {
	if len(s) <= maxMsgLen {
		return s
	}
	cut := maxMsgLen
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// addf records a problem at the line known for path or its nearest ancestor.
func (c *collector) addf(path, format string, args ...any) {
	c.add(c.line(path), path, format, args...)
}

// line returns the line recorded for path or, failing that, for its nearest
// recorded ancestor; 0 if none.
func (c *collector) line(path string) int {
	for p := path; p != ""; p = parentPath(p) {
		if l, ok := c.lines[p]; ok {
			return l
		}
	}
	return 0
}

// covered reports whether path or an ancestor of it already has a problem.
func (c *collector) covered(path string) bool {
	for p := path; p != ""; p = parentPath(p) {
		if c.failed[p] {
			return true
		}
	}
	return false
}

// err returns the problems as *Errors, or nil if there are none.
func (c *collector) err() error {
	if len(c.list) == 0 {
		return nil
	}
	list := slices.Clone(c.list)
	slices.SortStableFunc(list, func(a, b *FieldError) int {
		if (a.Line == 0) != (b.Line == 0) {
			if a.Line == 0 {
				return 1
			}
			return -1
		}
		return cmp.Compare(a.Line, b.Line)
	})
	return &Errors{List: list}
}

// parentPath returns "a.b" for "a.b.c" and "a.b" for "a.b[3]"; "" at the top.
func parentPath(p string) string {
	i := strings.LastIndexAny(p, ".[")
	if i < 0 {
		return ""
	}
	return p[:i]
}
