package main

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCanonicalTitle(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Main page", "Main_page"},
		{"Main_page", "Main_page"},
		{"  Main __ page_ ", "Main_page"},
		{"Café", "Café"},
		{"v1.2-beta", "v1.2-beta"},
		{"नमस्ते", "नमस्ते"}, // Devanagari needs marks
		{"42", "42"},
		{"", ""},
		{"   ", ""},
		{"...", ""},
		{"..", ""},
		{"a/b", ""},
		{"a?b", ""},
		{"a%20b", ""},
		{"<script>", ""},
		{"a\tb", ""},
		{"a\nb", ""},
		{"\xff", ""},
		{strings.Repeat("x", maxTitleRunes), strings.Repeat("x", maxTitleRunes)},
		{strings.Repeat("x", maxTitleRunes+1), ""},
	} {
		got, err := canonicalTitle(tc.in)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("canonicalTitle(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestSafeFileName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"cat.png", "cat.png"},
		{"../../etc/passwd", "passwd"},
		{`C:\Users\me\cat picture.png`, "cat_picture.png"},
		{".htaccess", "htaccess"},
		{"..", ""},
		{"...", ""},
		{"", ""},
		{"dir/", ""},
		{"café.png", "caf__.png"},
		{"a\x00b", "a_b"},
		{"___", ""},
		{strings.Repeat("a", maxFileName+1), ""},
	} {
		got, err := safeFileName(tc.in)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("safeFileName(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestRender(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Hello", "<p>Hello</p>\n"},
		{"a\nb\n\nc", "<p>a\nb</p>\n<p>c</p>\n"},
		{"<script>alert(1)</script>", "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n"},
		{"# Title\ntext", "<h2>Title</h2>\n<p>text</p>\n"},
		{"#nospace", "<p>#nospace</p>\n"},
		{"#### four", "<p>#### four</p>\n"},
		{"- a\n* b\nc", "<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n<p>c</p>\n"},
		{"See [[Main page]].", `<p>See <a href="/wiki/Main_page">Main page</a>.</p>` + "\n"},
		{"[[Café|coffee & cake]]", `<p><a href="/wiki/Caf%C3%A9">coffee &amp; cake</a></p>` + "\n"},
		{"[[File:cat.png]]", `<p><a href="/files/cat.png">File:cat.png</a></p>` + "\n"},
		{"[[File:../x]]", "<p>[[File:../x]]</p>\n"},
		{`[["><script>]]`, "<p>[[&#34;&gt;&lt;script&gt;]]</p>\n"},
		{"[[javascript:alert(1)]]", "<p>[[javascript:alert(1)]]</p>\n"},
		{"[[unclosed", "<p>[[unclosed</p>\n"},
		{"a\r\nb", "<p>a\nb</p>\n"},
	} {
		if got := string(render(tc.in)); got != tc.want {
			t.Errorf("render(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

// emitted matches every tag render may produce; anything else in its
// output must be escaped text.
var emitted = regexp.MustCompile(`</?(p|ul|li|h2|h3|h4)>|<a href="/(wiki|files)/[A-Za-z0-9%._~\-]+">|</a>`)

func FuzzRender(f *testing.F) {
	for _, s := range []string{"# a\n- b\n[[c|d]]", "<img src=x onerror=alert(1)>", `[[a"|b]]`, "[[File:x.png|<b>]]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		out := emitted.ReplaceAllString(string(render(src)), "")
		if strings.ContainsAny(out, `<>"`) {
			t.Errorf("render(%q) leaves markup: %q", src, out)
		}
	})
}

func FuzzCanonicalTitle(f *testing.F) {
	for _, s := range []string{"Main page", "  a__b ", "Café", "..", "a/b", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := canonicalTitle(s)
		if err != nil {
			return
		}
		if again, err := canonicalTitle(c); err != nil || again != c {
			t.Errorf("canonicalTitle(%q) = %q, not a fixed point (%q, %v)", s, c, again, err)
		}
		if !utf8.ValidString(c) || strings.ContainsAny(c, " /\\?#%<>\"'&") || c == "." || c == ".." {
			t.Errorf("canonicalTitle(%q) = %q; unsafe in a URL or tag", s, c)
		}
	})
}

func FuzzSafeFileName(f *testing.F) {
	for _, s := range []string{"cat.png", "../../x", `a\b`, "..", ".x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, err := safeFileName(s)
		if err != nil {
			return
		}
		if !validFileName(name) || strings.HasPrefix(name, ".") || strings.ContainsAny(name, `/\`) {
			t.Errorf("safeFileName(%q) = %q; not a safe name", s, name)
		}
	})
}
