package httpcache

import (
	"bufio"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/dunglas/httpsfv"
)

func FuzzParseCacheControl(f *testing.F) {
	for _, s := range []string{
		"max-age=60", `no-cache="Set-Cookie, X-A", private`, "s-maxage=10, max-age=1",
		"max-stale", "max-stale=5, min-fresh=3", `max-age="60"`, "max-age=99999999999999999999",
		"stale-while-revalidate=30, stale-if-error=60", "must-understand, no-store", `a="unterminated`, ",,,",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cc := ParseCacheControl([]string{s})
		for _, d := range []int64{cc.MaxAge, cc.SMaxAge, cc.MaxStale, cc.MinFresh, cc.StaleWhileRevalidate, cc.StaleIfError} {
			if d != Absent && (d < 0 || d > maxDelta) {
				t.Fatalf("ParseCacheControl(%q): delta %d out of range", s, d)
			}
		}
		if cc.MaxStaleAny && cc.MaxStale != Absent && cc.MaxStale < 0 {
			t.Fatalf("ParseCacheControl(%q): inconsistent max-stale", s)
		}
		for _, n := range append(cc.NoCacheFields, cc.PrivateFields...) {
			if !isToken(n) {
				t.Fatalf("ParseCacheControl(%q): field name %q is not a token", s, n)
			}
		}
		// Parsing is deterministic and splitting lines does not matter
		// for directives that contain no commas.
		if again := ParseCacheControl([]string{s}); !reflect.DeepEqual(cc, again) {
			t.Fatalf("ParseCacheControl(%q) not deterministic", s)
		}
	})
}

func FuzzParseVary(f *testing.F) {
	for _, s := range []string{"Accept-Encoding", "*", "accept, *", "a,b,,c", " Accept-Language ,accept-language"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v := ParseVary([]string{s})
		if v.Star && len(v.Fields) != 0 {
			t.Fatalf("ParseVary(%q): star with fields %q", s, v.Fields)
		}
		if len(v.Fields) > maxVaryFields {
			t.Fatalf("ParseVary(%q): %d fields", s, len(v.Fields))
		}
		for i, n := range v.Fields {
			if n != http.CanonicalHeaderKey(n) || !isToken(n) || (i > 0 && v.Fields[i-1] >= n) {
				t.Fatalf("ParseVary(%q): fields %q not canonical, sorted, unique", s, v.Fields)
			}
		}
	})
}

func FuzzParseTags(f *testing.F) {
	for _, s := range []string{"a b c", "a, b,c", `"a", "b";p=1`, `"unterminated`, "   ", `"a\"b"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, format := range []TagFormat{TagsSpace, TagsComma, TagsStrings} {
			tags := ParseTags(format, []string{s})
			if len(tags) > maxTags {
				t.Fatalf("ParseTags(%d, %q): %d tags", format, s, len(tags))
			}
			seen := map[string]bool{}
			for _, tag := range tags {
				if tag == "" || len(tag) > maxTagLen || seen[tag] {
					t.Fatalf("ParseTags(%d, %q): bad or duplicate tag %q", format, s, tag)
				}
				seen[tag] = true
				if format == TagsSpace && strings.ContainsAny(tag, " \t") {
					t.Fatalf("ParseTags(space, %q): tag %q has spaces", s, tag)
				}
			}
		}
	})
}

func FuzzParsePurge(f *testing.F) {
	for _, s := range []string{
		"PURGE /wiki/Main_Page HTTP/1.1\r\nHost: example.org\r\n\r\n",
		"PURGE http://example.org/wiki/Page HTTP/1.1\r\nHost: x\r\n\r\n",
		"BAN / HTTP/1.1\r\nHost: a\r\nX-Ban-Url: ^/news\r\n\r\n",
		"PURGE /.* HTTP/1.1\r\nHost: blog\r\nX-Purge-Method: regex\r\n\r\n",
		"PURGE / HTTP/1.1\r\nHost: a\r\nSurrogate-Key: a b\r\nPurge-Mode: soft\r\n\r\n",
		"PURGE / HTTP/1.1\r\nHost: a\r\nCache-Groups-Invalidation: \"x\", \"y\"\r\n\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return
		}
		ev, err := ParsePurge(r)
		if err != nil {
			return
		}
		if err := ev.Validate(); err != nil {
			t.Fatalf("ParsePurge(%q) = %+v, invalid: %v", raw, ev, err)
		}
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		var back Event
		if err := json.Unmarshal(b, &back); err != nil || back.Validate() != nil {
			t.Fatalf("event %+v does not round-trip: %v", ev, err)
		}
		// Applying it never panics.
		c, _ := New(Options{Memory: 1 << 20})
		if _, err := c.Apply(ev); err != nil {
			t.Fatalf("Apply(%+v): %v", ev, err)
		}
	})
}

func FuzzCacheKey(f *testing.F) {
	for _, s := range []string{"/p?b=2&a=1&utm_x=1", "/%2F?x", "/?&&=", "/a?%zz=1"} {
		f.Add(s)
	}
	k := newKeyer(KeyOptions{SortQuery: true, DropQuery: []string{"utm_*"}})
	f.Fuzz(func(t *testing.T, target string) {
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET " + target + " HTTP/1.1\r\nHost: Example.org\r\n\r\n")))
		if err != nil {
			return
		}
		key := k.requestKey(r)
		if !strings.HasPrefix(key, "http://example.org/") {
			t.Fatalf("key %q for %q", key, target)
		}
		if again := k.requestKey(r); again != key {
			t.Fatalf("key not deterministic for %q", target)
		}
	})
}

// FuzzParseTargeted: a targeted field either is a Dictionary, and its
// meaning does not depend on how it was spelt (it survives a round trip
// through the serializer), or it is ignored whole.
func FuzzParseTargeted(f *testing.F) {
	for _, s := range []string{
		"max-age=60", "max-age=60, s-maxage=10;x", `no-cache="a, b", private`, "max-age=60,", "Max-Age=1",
		`max-age="60"`, "no-store=?0, public", "max-age=1.5", "max-age=-1", "a=(1 2), b=:AQ==:", "max-age=60 junk",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cc, ok := parseTargeted([]string{s})
		d, err := httpsfv.UnmarshalDictionary([]string{s})
		if ok != (err == nil) {
			t.Fatalf("parseTargeted(%q) ok = %v; the Dictionary parser says %v", s, ok, err)
		}
		if !ok {
			return
		}
		for _, v := range []int64{cc.MaxAge, cc.SMaxAge, cc.MaxStale, cc.MinFresh, cc.StaleWhileRevalidate, cc.StaleIfError} {
			if v != Absent && (v < 0 || v > maxDelta) {
				t.Fatalf("parseTargeted(%q): delta %d out of range", s, v)
			}
		}
		again, err := httpsfv.Marshal(d)
		if err != nil {
			return // a Dictionary the serializer refuses (RFC 9651 allows some only one way)
		}
		if cc2, ok := parseTargeted([]string{again}); !ok || !reflect.DeepEqual(cc, cc2) {
			t.Fatalf("parseTargeted(%q) = %+v; its serialization %q gives %+v, %v", s, cc, again, cc2, ok)
		}
	})
}

// FuzzCookieValue: the variant value of a Cookie field under a cookie
// list holds the listed cookies only, whatever their order or spacing.
func FuzzCookieValue(f *testing.F) {
	for _, s := range []string{"sessionid=a; _ga=1", "_ga=1;lang_de=x; sessionid=", "SessionID=1", ";;", "a=b=c; sessionid=\"q\""} {
		f.Add(s)
	}
	sel := selector{cookies: newGlobs([]string{"sessionid", "lang_*"})}
	f.Fuzz(func(t *testing.T, s string) {
		v := sel.cookieValue([]string{s})
		parts := strings.Split(s, ";")
		slices.Reverse(parts)
		if rev := sel.cookieValue([]string{strings.Join(parts, " ;  ")}); rev != v && len(parts) <= maxFieldMembers {
			t.Fatalf("cookieValue(%q) = %q; reversed %q", s, v, rev)
		}
		if v == "" {
			return
		}
		for _, pair := range strings.Split(v, "; ") {
			name, _, _ := strings.Cut(pair, "=")
			if !sel.cookies.match(name) {
				t.Fatalf("cookieValue(%q) = %q holds %q, not listed", s, v, pair)
			}
		}
	})
}
