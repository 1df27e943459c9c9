package httpcache

import (
	"maps"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"
)

// hitOrigin answers 12 bytes, cacheable for an hour, with a Date of the
// clock's now when clock is not nil (else the cache adds one).
func hitOrigin(clock *fakeClock) http.HandlerFunc {
	return fixed(clock, 200, "hello, world", "Cache-Control", "max-age=3600",
		"Content-Type", "text/plain", "X-App", "a", "X-App", "b", "Surrogate-Key", "k1 k2")
}

// hitTiers makes a cache in front of hitOrigin, stores /p in it and
// returns the cache to ask: in memory, on disk, and on disk after a
// restart (the entry rebuilt from the object file).
func hitTiers(t *testing.T, clock bool) map[string]*env {
	t.Helper()
	out := map[string]*env{}
	for _, tier := range []string{"memory", "disk", "disk-restarted"} {
		var o Options
		if tier != "memory" {
			o = Options{Disk: &DiskOptions{Path: t.TempDir(), Size: 1 << 20}, MemoryObjectMax: 4 << 10}
		}
		e := newEnvOpts(t, o, RouteOptions{}, nil)
		var c *fakeClock
		if clock {
			c = e.clock
		}
		e.o.set(hitOrigin(c))
		e.get("http://example.org/p")
		if tier == "disk-restarted" {
			o.Now = e.clock.Now
			e2 := newEnvOpts(t, o, RouteOptions{}, hitOrigin(c))
			e2.clock = e.clock
			e = e2
		}
		out[tier] = e
	}
	return out
}

// TestHitHeaderExact: a hit carries exactly the stored fields (less the
// tag header), plus Age, Cache-Status and Content-Length worked out for
// this response, whatever the age and the tier.
func TestHitHeaderExact(t *testing.T) {
	for tier, e := range hitTiers(t, true) {
		date := e.clock.Now().Format(http.TimeFormat)
		var total time.Duration
		for _, age := range []time.Duration{0, 9 * time.Second, 1234500 * time.Millisecond} {
			e.clock.Advance(age - total)
			total = age
			r := e.get("http://example.org/p")
			secs := int64(age / time.Second)
			want := http.Header{
				"Cache-Control":  {"max-age=3600"},
				"Content-Type":   {"text/plain"},
				"Date":           {date},
				"X-App":          {"a", "b"},
				"Age":            {strconv.FormatInt(secs, 10)},
				"Cache-Status":   {"tandem; hit; ttl=" + strconv.FormatInt(int64((time.Hour-age)/time.Second), 10)},
				"Content-Length": {"12"},
			}
			if !maps.EqualFunc(r.Header(), want, slices.Equal) {
				t.Errorf("%s: hit at age %v: header = %q; want %q", tier, age, r.Header(), want)
			}
			if r.Code != 200 || r.Body.String() != "hello, world" {
				t.Errorf("%s: hit at age %v = %d %q; want 200 \"hello, world\"", tier, age, r.Code, r.Body)
			}
		}
		if n := e.o.n(); n != 0 && tier == "disk-restarted" {
			t.Errorf("%s: origin calls = %d; want 0", tier, n)
		}
	}
}

// TestHitHeaderNotShared: a handler that adds to the fields of a hit
// does not change what the next hit gets.
func TestHitHeaderNotShared(t *testing.T) {
	e := newEnv(t, RouteOptions{}, fixed(nil, 200, "x", "Cache-Control", "max-age=60", "Vary", "Accept"))
	e.get("http://example.org/")
	fields := []string{"Content-Length", "Age", "Cache-Status", "Vary"}
	r := e.get("http://example.org/")
	for _, f := range fields {
		r.Header().Add(f, "extra")
	}
	r2 := e.get("http://example.org/")
	for _, f := range fields {
		if got := r2.Header().Values(f); len(got) != 1 || got[0] == "extra" {
			t.Errorf("%s after an Add on an earlier hit = %q; want one value of its own", f, got)
		}
	}
}

// TestConditionalHitAgainstDate: without Last-Modified, If-Modified-Since
// and If-Unmodified-Since are compared with the stored Date (RFC 9110
// §13.1.3), the origin's or the one the cache added, in every tier.
func TestConditionalHitAgainstDate(t *testing.T) {
	for _, originDate := range []bool{true, false} {
		for tier, e := range hitTiers(t, originDate) {
			stored := e.clock.Now()
			e.clock.Advance(time.Minute)
			tests := []struct {
				field string
				at    time.Time
				code  int
			}{
				{"If-Modified-Since", stored, 304},
				{"If-Modified-Since", stored.Add(time.Second), 304},
				{"If-Modified-Since", stored.Add(-time.Second), 200},
				{"If-Unmodified-Since", stored, 200},
				{"If-Unmodified-Since", stored.Add(-time.Second), 412},
			}
			for _, tt := range tests {
				r := e.get("http://example.org/p", tt.field, tt.at.Format(http.TimeFormat))
				if r.Code != tt.code {
					t.Errorf("%s, origin Date %v: GET with %s %v = %d; want %d", tier, originDate, tt.field, tt.at, r.Code, tt.code)
				}
			}
		}
	}
}
