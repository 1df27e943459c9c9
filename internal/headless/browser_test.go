package headless

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"
)

func TestConsoleLines(t *testing.T) {
	log := `/usr/bin/chromium: 9: [: 25276510208: unexpected operator
[1:1:1123/120731.781381:WARNING:sandbox_linux.cc:404] InitializeSandbox() called with multiple threads
[1:1:1123/120732.199709:INFO:CONSOLE:3] "an error line", source: http://127.0.0.1/a.js (3)
[1:1:1123/120732.215352:INFO:CONSOLE:5] "Uncaught Error: boom", source: http://127.0.0.1/a.js (5)
`
	got := consoleLines(log)
	want := []string{
		`[1:1:1123/120732.199709:INFO:CONSOLE:3] "an error line", source: http://127.0.0.1/a.js (3)`,
		`[1:1:1123/120732.215352:INFO:CONSOLE:5] "Uncaught Error: boom", source: http://127.0.0.1/a.js (5)`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("consoleLines(log) = %q; want %q", got, want)
	}
}

func TestElementsAndText(t *testing.T) {
	p := Page{DOM: `<html><body data-ready="1"><div class="chart" data-chart="rps" data-points="900" hidden="">` +
		`<p title="a &amp; b &gt; c">x</p></div><pre id="errors" hidden="">one &lt;two&gt;</pre><dd id="node">n1</dd></body></html>`}
	for _, tc := range []struct {
		attr string
		want []map[string]string
	}{
		{"data-ready", []map[string]string{{"data-ready": "1"}}},
		{"data-chart", []map[string]string{{"class": "chart", "data-chart": "rps", "data-points": "900", "hidden": ""}}},
		{"title", []map[string]string{{"title": "a & b > c"}}},
		{"data-none", nil},
	} {
		if got := p.Elements(tc.attr); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Elements(%q) = %v; want %v", tc.attr, got, tc.want)
		}
	}
	for _, tc := range []struct {
		id, want string
		ok       bool
	}{
		{"errors", "one <two>", true},
		{"node", "n1", true},
		{"nope", "", false},
	} {
		if got, ok := p.Text(tc.id); got != tc.want || ok != tc.ok {
			t.Errorf("Text(%q) = %q, %v; want %q, %v", tc.id, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzElements(f *testing.F) {
	f.Add(`<div a="1" b><p c="x>y">`, "a")
	f.Add(`<<div =""`, "")
	f.Fuzz(func(t *testing.T, dom, attr string) {
		p := Page{DOM: dom}
		for _, e := range p.Elements(attr) {
			if _, ok := e[attr]; !ok {
				t.Fatalf("Elements(%q) returned %v without the attribute", attr, e)
			}
		}
		p.Text(attr)
	})
}

// TestDumpDOM: a page's script runs, its DOM comes back, and what it
// writes to the console is caught.
func TestDumpDOM(t *testing.T) {
	b := ForTest(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte(`<!doctype html><html><head><script src="/a.js"></script></head><body></body></html>`))
		case "/a.js":
			w.Header().Set("Content-Type", "text/javascript")
			w.Write([]byte(`setTimeout(() => { document.body.dataset.ready = "1"; console.error("late"); }, 3000);`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	p, err := b.DumpDOM(ctx, srv.URL+"/")
	if err != nil {
		t.Fatalf("DumpDOM = %v\n%s", err, p.Log)
	}
	if got := p.Elements("data-ready"); len(got) != 1 {
		t.Errorf("DumpDOM: data-ready elements %v; want the body, set after 3s of virtual time", got)
	}
	if len(p.Console) != 1 {
		t.Errorf("DumpDOM: console %q; want the one console.error line", p.Console)
	}
}
