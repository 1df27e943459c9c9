package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestNotModified(t *testing.T) {
	mod := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const etag = `W/"r1-abc"`
	for _, tc := range []struct {
		method string
		header http.Header
		want   bool
	}{
		{"GET", nil, false},
		{"GET", http.Header{"If-None-Match": {`W/"r1-abc"`}}, true},
		{"HEAD", http.Header{"If-None-Match": {`"r1-abc"`}}, true},
		{"GET", http.Header{"If-None-Match": {`"x", W/"r1-abc"`}}, true},
		{"GET", http.Header{"If-None-Match": {`"x"`, `W/"r1-abc"`}}, true},
		{"GET", http.Header{"If-None-Match": {"*"}}, true},
		{"GET", http.Header{"If-None-Match": {`W/"r2-abc"`}}, false},
		{"GET", http.Header{"If-None-Match": {`r1-abc`}}, false},
		{"GET", http.Header{"If-None-Match": {`W/"r2"`}, "If-Modified-Since": {mod.Format(http.TimeFormat)}}, false},
		{"POST", http.Header{"If-None-Match": {"*"}}, false},
		{"GET", http.Header{"If-Modified-Since": {mod.Format(http.TimeFormat)}}, true},
		{"GET", http.Header{"If-Modified-Since": {mod.Add(-time.Second).Format(http.TimeFormat)}}, false},
		{"GET", http.Header{"If-Modified-Since": {"yesterday"}}, false},
	} {
		r := httptest.NewRequest(tc.method, "/", nil)
		r.Header = tc.header
		if r.Header == nil {
			r.Header = http.Header{}
		}
		if got := notModified(r, etag, mod); got != tc.want {
			t.Errorf("notModified(%s %v) = %v; want %v", tc.method, tc.header, got, tc.want)
		}
	}
}

func FuzzETagListMatches(f *testing.F) {
	for _, s := range []string{`W/"a"`, `"a", "b"`, "*", `W/`, `"`, ",,,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, list string) {
		// Must not panic; and a list that matches our tag must name it or "*".
		if etagListMatches(list, `W/"r1-abc"`) && !strings.Contains(list, `"r1-abc"`) && !strings.Contains(list, "*") {
			t.Errorf("etagListMatches(%q) = true", list)
		}
	})
}
