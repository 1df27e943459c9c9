package httpcache

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestFreshnessRules(t *testing.T) {
	clock := newClock()
	at := func(d time.Duration) string { return clock.Now().Add(d).Format(http.TimeFormat) }
	tests := []struct {
		name   string
		status int
		hdr    []string
		ro     RouteOptions
		after  time.Duration // time between store and reuse
		hit    bool
	}{
		{"max-age fresh", 200, []string{"Cache-Control", "max-age=60"}, RouteOptions{}, 59 * time.Second, true},
		{"max-age stale", 200, []string{"Cache-Control", "max-age=60"}, RouteOptions{}, 61 * time.Second, false},
		{"s-maxage wins over max-age", 200, []string{"Cache-Control", "max-age=1000, s-maxage=10"}, RouteOptions{}, 20 * time.Second, false},
		{"s-maxage longer than max-age", 200, []string{"Cache-Control", "max-age=1, s-maxage=100"}, RouteOptions{}, 20 * time.Second, true},
		{"max-age wins over Expires", 200, []string{"Cache-Control", "max-age=10", "Expires", at(time.Hour)}, RouteOptions{}, 20 * time.Second, false},
		{"Expires fresh", 200, []string{"Expires", at(time.Hour)}, RouteOptions{}, 30 * time.Minute, true},
		{"Expires stale", 200, []string{"Expires", at(time.Minute)}, RouteOptions{}, 2 * time.Minute, false},
		{"invalid Expires is stale", 200, []string{"Expires", "0"}, RouteOptions{}, 0, false},
		{"Expires with a double space is stale", 200, []string{"Expires", strings.Replace(at(time.Hour), " ", "  ", 1)}, RouteOptions{}, 0, false},
		{"Expires with a one-digit hour is stale", 200, []string{"Expires", oneDigitHour(clock.Now().Add(time.Hour))}, RouteOptions{}, 0, false},
		{"two Expires lines are stale", 200, []string{"Expires", at(time.Hour), "Expires", at(time.Hour)}, RouteOptions{}, 0, false},
		{"Expires in lower case is stale", 200, []string{"Expires", strings.ToLower(at(time.Hour))}, RouteOptions{}, 0, false},
		{"Expires RFC 850 form", 200, []string{"Expires", clock.Now().Add(time.Hour).Format("Monday, 02-Jan-06 15:04:05 GMT")}, RouteOptions{}, 30 * time.Minute, true},
		{"Expires asctime form", 200, []string{"Expires", clock.Now().Add(time.Hour).Format(time.ANSIC)}, RouteOptions{}, 30 * time.Minute, true},
		{"heuristic from Last-Modified", 200, []string{"Last-Modified", at(-100 * time.Hour)}, RouteOptions{}, 9 * time.Hour, true},
		{"heuristic expires at 10%", 200, []string{"Last-Modified", at(-100 * time.Hour)}, RouteOptions{}, 11 * time.Hour, false},
		{"heuristic capped", 200, []string{"Last-Modified", at(-1000 * time.Hour)}, RouteOptions{HeuristicMax: time.Hour}, 2 * time.Hour, false},
		{"no heuristic for 500", 500, []string{"Last-Modified", at(-100 * time.Hour)}, RouteOptions{}, time.Second, false},
		{"no freshness no reuse", 200, nil, RouteOptions{}, 0, false},
		{"DefaultTTL for 200", 200, nil, RouteOptions{DefaultTTL: time.Minute}, 30 * time.Second, true},
		{"404 heuristically cacheable", 404, []string{"Last-Modified", at(-100 * time.Hour)}, RouteOptions{}, time.Minute, true},
		{"302 needs explicit freshness", 302, []string{"Last-Modified", at(-100 * time.Hour)}, RouteOptions{}, time.Second, false},
		{"302 with max-age", 302, []string{"Cache-Control", "max-age=60", "Location", "/x"}, RouteOptions{}, time.Second, true},
		{"malformed max-age is stale", 200, []string{"Cache-Control", "max-age=abc"}, RouteOptions{}, 0, false},
		{"quoted max-age accepted", 200, []string{"Cache-Control", `max-age="60"`}, RouteOptions{}, 30 * time.Second, true},
		{"first duplicate max-age", 200, []string{"Cache-Control", "max-age=60, max-age=0"}, RouteOptions{}, 30 * time.Second, true},
		{"CDN-Cache-Control overrides", 200, []string{"Cache-Control", "no-store", "CDN-Cache-Control", "max-age=60"}, RouteOptions{}, 30 * time.Second, true},
		{"CDN-Cache-Control ignores Expires", 200, []string{"Expires", at(time.Hour), "CDN-Cache-Control", "max-age=10"}, RouteOptions{}, 30 * time.Second, false},
		{"CDN-Cache-Control not a dictionary is ignored", 200, []string{"Cache-Control", "max-age=100", "CDN-Cache-Control", "max-age=10, Private"}, RouteOptions{}, 30 * time.Second, true},
		{"CDN-Cache-Control trailing comma is ignored", 200, []string{"Cache-Control", "max-age=100", "CDN-Cache-Control", "no-store, max-age=60,"}, RouteOptions{}, 30 * time.Second, true},
		{"CDN-Cache-Control junk after a member is ignored", 200, []string{"Cache-Control", "max-age=100", "CDN-Cache-Control", "no-store junk"}, RouteOptions{}, 30 * time.Second, true},
		{"CDN-Cache-Control string max-age is malformed", 200, []string{"Cache-Control", "max-age=100", "CDN-Cache-Control", `max-age="60"`}, RouteOptions{}, 30 * time.Second, false},
		{"CDN-Cache-Control last duplicate wins", 200, []string{"CDN-Cache-Control", "max-age=60, max-age=5"}, RouteOptions{}, 30 * time.Second, false},
		{"CDN-Cache-Control parameters ignored", 200, []string{"CDN-Cache-Control", "max-age=60;x=1, public;y"}, RouteOptions{}, 30 * time.Second, true},
		{"CDN-Cache-Control over two lines", 200, []string{"Cache-Control", "no-store", "CDN-Cache-Control", "public", "CDN-Cache-Control", "max-age=60"}, RouteOptions{}, 30 * time.Second, true},
		{"invalid Tandem-Cache-Control falls back to CDN-Cache-Control", 200, []string{"CDN-Cache-Control", "max-age=60", "Tandem-Cache-Control", "max-age=1 ;"}, RouteOptions{}, 30 * time.Second, true},
		{"Tandem-Cache-Control highest", 200, []string{"CDN-Cache-Control", "max-age=10", "Tandem-Cache-Control", "max-age=100"}, RouteOptions{}, 30 * time.Second, true},
		{"targeted no-store", 200, []string{"Cache-Control", "max-age=100", "Tandem-Cache-Control", "no-store"}, RouteOptions{}, 0, false},
		{"206 never stored", 206, []string{"Cache-Control", "max-age=100", "Content-Range", "bytes 0-1/10"}, RouteOptions{}, 0, false},
		{"must-understand with known status ignores no-store", 200, []string{"Cache-Control", "must-understand, no-store, max-age=60"}, RouteOptions{}, time.Second, true},
		{"must-understand with unknown status", 299, []string{"Cache-Control", "must-understand, max-age=60"}, RouteOptions{}, time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.ro, nil)
			e.clock = clock
			e.c.now = clock.Now
			start := clock.Now()
			defer func() { clock.t = start }()
			e.o.set(fixed(clock, tt.status, "body", tt.hdr...))
			e.get("http://example.org/x")
			clock.Advance(tt.after)
			r := e.get("http://example.org/x")
			if got := isHit(r); got != tt.hit {
				t.Errorf("hit = %v; want %v (Cache-Status %q)", got, tt.hit, r.Header().Get("Cache-Status"))
			}
		})
	}
}

// oneDigitHour formats t as an IMF-fixdate but with its hour, which
// must be below 10, in one digit: what lenient parsers accept.
func oneDigitHour(t time.Time) string {
	t = t.UTC()
	if t.Hour() >= 10 {
		t = t.Add(-time.Duration(t.Hour()) * time.Hour)
	}
	return t.Format("Mon, 02 Jan 2006 3:04:05 GMT")
}

func TestAgeGeneratedAndUpdated(t *testing.T) {
	e := newEnv(t, RouteOptions{}, nil)
	e.o.set(fixed(e.clock, 200, "x", "Cache-Control", "max-age=100", "Age", "10"))
	e.get("http://example.org/")
	e.clock.Advance(5 * time.Second)
	r := e.get("http://example.org/")
	if got := r.Header().Get("Age"); got != "15" {
		t.Errorf("Age = %q; want 15", got)
	}
	if !strings.Contains(r.Header().Get("Cache-Status"), "ttl=85") {
		t.Errorf("Cache-Status = %q; want ttl=85", r.Header().Get("Cache-Status"))
	}
	// An origin Age makes the response expire earlier.
	e.clock.Advance(86 * time.Second)
	if r := e.get("http://example.org/"); isHit(r) {
		t.Errorf("hit at age 101 of max-age=100")
	}
}

func TestAgeFromOldDate(t *testing.T) {
	e := newEnv(t, RouteOptions{}, nil)
	// Date 30s in the past: apparent age 30.
	e.o.set(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", e.clock.Now().Add(-30*time.Second).Format(http.TimeFormat))
		w.Header().Set("Cache-Control", "max-age=60")
		w.Write([]byte("x"))
	})
	e.get("http://example.org/")
	r := e.get("http://example.org/")
	if got := r.Header().Get("Age"); got != "30" {
		t.Errorf("Age = %q; want 30", got)
	}
}

func TestDateAddedWhenMissing(t *testing.T) {
	e := newEnv(t, RouteOptions{}, fixed(nil, 200, "x", "Cache-Control", "max-age=60"))
	e.get("http://example.org/")
	r := e.get("http://example.org/")
	if r.Header().Get("Date") == "" {
		t.Errorf("stored response without Date: got none; want one added")
	}
}
