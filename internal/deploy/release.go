package deploy

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Release is one version of what an app's instances run.
type Release struct {
	// Version labels the release; unique among the app's releases.
	Version string `json:"version"`
	// Command is the program and its arguments. A relative program path
	// with a slash is relative to Dir.
	Command []string `json:"command"`
	// Dir is the working directory of the instances, e.g. an unpacked build.
	Dir string `json:"dir"`
	// Env is added to the instances' environment. It may hold secrets: the
	// store's files are readable by their owner only.
	Env map[string]string `json:"env,omitempty"`
	// ReleaseCommand is run once before the release's instances roll
	// (migrations); nil for none.
	ReleaseCommand []string `json:"release_command,omitempty"`
	// Created is when the release was made.
	Created time.Time `json:"created"`
	// Source says where it came from: SourceStack or SourceDeploy.
	Source string `json:"source"`
}

// Where a release came from.
const (
	SourceStack  = "stack file" // the stack file's app section
	SourceDeploy = "deploy"     // tandem deploy with flags
)

// ErrBadVersion is returned for a version label that is not usable.
var ErrBadVersion = errors.New("invalid version label")

var versionRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$`)

// CheckVersion reports whether v is a usable version label: letters,
// digits, '.', '_', '+' and '-', starting with a letter or digit, at most
// 64 characters.
func CheckVersion(v string) error {
	if !versionRE.MatchString(v) {
		return fmt.Errorf("%w %q: use letters, digits, '.', '_', '+' and '-', starting with a letter or digit, at most 64 characters", ErrBadVersion, v)
	}
	return nil
}

// AutoVersion is the label of the seq-th release when none is given.
func AutoVersion(seq int) string { return "v" + strconv.Itoa(seq) }

// Spec is the part of a release that decides what runs: two releases with
// equal Specs run the same thing.
type Spec struct {
	Command        []string          `json:"command"`
	Dir            string            `json:"dir"`
	Env            map[string]string `json:"env,omitempty"`
	ReleaseCommand []string          `json:"release_command,omitempty"`
}

// Spec returns what r runs.
func (r Release) Spec() Spec {
	return Spec{Command: r.Command, Dir: r.Dir, Env: r.Env, ReleaseCommand: r.ReleaseCommand}
}

// Equal reports whether s and o run the same thing.
func (s Spec) Equal(o Spec) bool {
	return slices.Equal(s.Command, o.Command) && s.Dir == o.Dir &&
		maps.Equal(s.Env, o.Env) && slices.Equal(s.ReleaseCommand, o.ReleaseCommand)
}

// Changes describes, one line each, what differs from s to next. Values of
// environment variables are not shown: they may be secrets.
func (s Spec) Changes(next Spec) []string {
	var out []string
	if !slices.Equal(s.Command, next.Command) {
		out = append(out, fmt.Sprintf("command: %s -> %s", quoteArgs(s.Command), quoteArgs(next.Command)))
	}
	if s.Dir != next.Dir {
		out = append(out, fmt.Sprintf("dir: %s -> %s", s.Dir, next.Dir))
	}
	if !slices.Equal(s.ReleaseCommand, next.ReleaseCommand) {
		out = append(out, fmt.Sprintf("release: %s -> %s", quoteArgs(s.ReleaseCommand), quoteArgs(next.ReleaseCommand)))
	}
	for _, k := range slices.Sorted(maps.Keys(next.Env)) {
		old, ok := s.Env[k]
		switch {
		case !ok:
			out = append(out, "env: + "+k)
		case old != next.Env[k]:
			out = append(out, "env: ~ "+k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(s.Env)) {
		if _, ok := next.Env[k]; !ok {
			out = append(out, "env: - "+k)
		}
	}
	return out
}

func quoteArgs(args []string) string {
	if args == nil {
		return "(none)"
	}
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = strconv.Quote(a)
	}
	return "[" + strings.Join(q, " ") + "]"
}

// Change is what a deploy with flags changes in the current release; zero
// fields keep what the current release has.
type Change struct {
	Command        []string          // nil: keep
	Dir            string            // "": keep
	SetEnv         map[string]string // added or replaced
	UnsetEnv       []string          // removed
	ReleaseCommand []string          // nil: keep
}

// Apply returns the spec of cur changed by c. When the directory changes
// and the command is kept, a program inside the old directory is taken
// relative to the new one (an unpacked build has the same layout).
func (c Change) Apply(cur Spec) Spec {
	next := Spec{Command: cur.Command, Dir: cur.Dir, ReleaseCommand: cur.ReleaseCommand, Env: maps.Clone(cur.Env)}
	if c.Dir != "" && c.Dir != cur.Dir {
		next.Dir = c.Dir
		next.Command = rebase(cur.Command, cur.Dir, c.Dir)
		next.ReleaseCommand = rebase(cur.ReleaseCommand, cur.Dir, c.Dir)
	}
	if c.Command != nil {
		next.Command = slices.Clone(c.Command)
	}
	if c.ReleaseCommand != nil {
		next.ReleaseCommand = slices.Clone(c.ReleaseCommand)
	}
	if len(c.SetEnv) > 0 && next.Env == nil {
		next.Env = make(map[string]string)
	}
	maps.Copy(next.Env, c.SetEnv)
	for _, k := range c.UnsetEnv {
		delete(next.Env, k)
	}
	return next
}

// rebase moves a command's program from oldDir to newDir when it lies
// inside oldDir.
func rebase(cmd []string, oldDir, newDir string) []string {
	if len(cmd) == 0 || !filepath.IsAbs(cmd[0]) {
		return cmd
	}
	rel, err := filepath.Rel(oldDir, cmd[0])
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return cmd
	}
	out := slices.Clone(cmd)
	out[0] = filepath.Join(newDir, rel)
	return out
}
