// Package headless runs Debian's Chromium without a display, for tests of
// the pages tandem serves: the DOM once the page's scripts have run, a
// screenshot, and every line the page wrote to the browser's console.
package headless

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ErrNotFound means no Chromium is installed.
var ErrNotFound = errors.New("chromium not found (Debian: apt-get install chromium)")

// VirtualTime is how much page time (timers, polls) a run lets pass before
// the DOM is dumped or the screenshot taken. Network waits do not count.
const VirtualTime = 8 * time.Second

// Browser is an installed Chromium.
type Browser struct {
	path string
}

// Find returns the first Chromium on PATH.
func Find() (*Browser, error) {
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(n); err == nil {
			return &Browser{path: p}, nil
		}
	}
	return nil, ErrNotFound
}

// ForTest returns the installed Chromium. Without one it skips t, or fails
// it when $TANDEM_REQUIRE_CHROMIUM is set (scripts/test sets it after
// installing Chromium, so a broken install is not silently skipped).
func ForTest(t testing.TB) *Browser {
	t.Helper()
	b, err := Find()
	if err == nil {
		return b
	}
	if os.Getenv("TANDEM_REQUIRE_CHROMIUM") != "" {
		t.Fatalf("TANDEM_REQUIRE_CHROMIUM is set but %v", err)
	}
	t.Skipf("skipping browser test: %v; scripts/test installs it", err)
	return nil
}

// Page is what one run of the browser saw.
type Page struct {
	// DOM is the document serialised after VirtualTime; empty for a
	// screenshot run.
	DOM string
	// Console holds the lines of the browser's log that the page wrote to
	// the console, and uncaught errors.
	Console []string
	// Log is the browser's whole log (its stderr).
	Log string
}

// DumpDOM loads url and returns the DOM once the page has run for
// VirtualTime.
func (b *Browser) DumpDOM(ctx context.Context, url string) (Page, error) {
	return b.run(ctx, url, "--dump-dom")
}

// Screenshot loads url and writes a PNG of the window to path once the
// page has run for VirtualTime.
func (b *Browser) Screenshot(ctx context.Context, url, path string) (Page, error) {
	p, err := b.run(ctx, url, "--screenshot="+path)
	if err != nil {
		return p, err
	}
	if _, err := os.Stat(path); err != nil {
		return p, fmt.Errorf("screenshot %s: %w", url, err)
	}
	p.DOM = ""
	return p, nil
}

func (b *Browser) run(ctx context.Context, url, action string) (Page, error) {
	profile, err := os.MkdirTemp("", "tandem-chromium-")
	if err != nil {
		return Page{}, fmt.Errorf("chromium %s: %w", url, err)
	}
	defer os.RemoveAll(profile)
	cmd := exec.CommandContext(ctx, b.path,
		"--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000",
		fmt.Sprintf("--virtual-time-budget=%d", VirtualTime.Milliseconds()),
		"--enable-logging=stderr", "--v=0",
		"--user-data-dir="+profile, "--no-first-run",
		// Nothing outside the machine is reachable: no update checks, sync
		// or other background traffic.
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic",
		action, url)
	// Chromium starts helper processes: end the whole group if ctx ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	p := Page{DOM: stdout.String(), Log: stderr.String(), Console: consoleLines(stderr.String())}
	if err != nil {
		return p, fmt.Errorf("chromium %s: %w", url, err)
	}
	return p, nil
}

// consoleLines picks out of Chromium's log the page's console messages
// ("...:INFO:CONSOLE:12] "text", source: ...": Chromium logs every level
// alike) and uncaught errors.
func consoleLines(log string) []string {
	var out []string
	for line := range strings.Lines(log) {
		if strings.Contains(line, ":CONSOLE") || strings.Contains(line, "Uncaught") {
			out = append(out, strings.TrimRight(line, "\n"))
		}
	}
	return out
}

var (
	startTag = regexp.MustCompile(`<([a-zA-Z][a-zA-Z0-9]*)(\s[^>]*)>`)
	attrRe   = regexp.MustCompile(`([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:="([^"]*)")?`)
)

// element is a start tag in the DOM: its name, attributes, and where the
// tag ends.
type element struct {
	name  string
	attrs map[string]string
	end   int
}

// elements reads the start tags that have attributes. It reads Chromium's
// serialisation (attribute values in double quotes, < and > escaped), not
// HTML in general.
func (p Page) elements() []element {
	var out []element
	for _, m := range startTag.FindAllStringSubmatchIndex(p.DOM, -1) {
		e := element{name: p.DOM[m[2]:m[3]], attrs: make(map[string]string), end: m[1]}
		for _, a := range attrRe.FindAllStringSubmatch(p.DOM[m[4]:m[5]], -1) {
			e.attrs[a[1]] = html.UnescapeString(a[2])
		}
		out = append(out, e)
	}
	return out
}

// Elements returns the attributes of every element in the DOM that has
// attribute attr, in document order.
func (p Page) Elements(attr string) []map[string]string {
	var out []map[string]string
	for _, e := range p.elements() {
		if _, ok := e.attrs[attr]; ok {
			out = append(out, e.attrs)
		}
	}
	return out
}

// Text returns the text inside the element with the given id, and whether
// there is one. It is meant for leaf elements such as <pre> and <dd>.
func (p Page) Text(id string) (string, bool) {
	for _, e := range p.elements() {
		if v, ok := e.attrs["id"]; !ok || v != id {
			continue
		}
		rest := p.DOM[e.end:]
		end := strings.Index(rest, "</"+e.name+">")
		if end < 0 {
			return "", false
		}
		return html.UnescapeString(rest[:end]), true
	}
	return "", false
}

// ArtifactPath is where a test keeps a file worth looking at after the
// run (a screenshot): in $TANDEM_TEST_ARTIFACTS when set, else in the
// test's temporary directory. The path is logged.
func ArtifactPath(t testing.TB, name string) string {
	t.Helper()
	dir := os.Getenv("TANDEM_TEST_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("artifacts directory: %v", err)
	}
	p, err := filepath.Abs(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("artifact: %s", p)
	return p
}
