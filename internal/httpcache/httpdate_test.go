package httpcache

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseHTTPDate(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	want := time.Date(1994, 11, 6, 8, 49, 37, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time // zero: invalid
	}{
		{"Sun, 06 Nov 1994 08:49:37 GMT", want},
		{"Sunday, 06-Nov-94 08:49:37 GMT", want},
		{"Sun Nov  6 08:49:37 1994", want},
		{"Sun Nov 06 08:49:37 1994", want}, // 2DIGIT is allowed too
		{"Wednesday, 31-Dec-70 23:59:59 GMT", time.Date(2070, 12, 31, 23, 59, 59, 0, time.UTC)},
		{"Wednesday, 31-Dec-80 23:59:59 GMT", time.Date(1980, 12, 31, 23, 59, 59, 0, time.UTC)}, // 2080 is more than 50 years on
		{"Wed, 31 Dec 2008 23:59:60 GMT", time.Date(2009, 1, 1, 0, 0, 0, 0, time.UTC)},          // a leap second
		{"Thu, 29 Feb 2024 00:00:00 GMT", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		{"Sun, 06 Nov 1994  08:49:37 GMT", time.Time{}}, // double space
		{"Sun,  06 Nov 1994 08:49:37 GMT", time.Time{}},
		{"Sun, 06 Nov 1994 8:49:37 GMT", time.Time{}}, // one-digit hour
		{"Sun, 6 Nov 1994 08:49:37 GMT", time.Time{}},
		{"Sun, 06 Nov 94 08:49:37 GMT", time.Time{}},
		{"sun, 06 nov 1994 08:49:37 GMT", time.Time{}}, // case-sensitive
		{"Sun, 06 Nov 1994 08:49:37 gmt", time.Time{}},
		{"Sun, 06 Nov 1994 08:49:37 UTC", time.Time{}},
		{"Mon, 06 Nov 1994 08:49:37 GMT", time.Time{}}, // not a Monday
		{"Fri, 29 Feb 2023 00:00:00 GMT", time.Time{}}, // no such day
		{"Sun, 06 Nov 1994 24:00:00 GMT", time.Time{}},
		{"Sun, 06 Nov 1994 08:60:00 GMT", time.Time{}},
		{"Sun, 06 Nov 1994 08:49:61 GMT", time.Time{}},
		{"Sun, 06 Nov 1994 08:49:37 GMT ", time.Time{}},
		{"Sun, 06 Nov 1994 08:49:37 +0000", time.Time{}},
		{"Sun, 06 Nov 1994 08-49-37 GMT", time.Time{}},
		{"Sun, +6 Nov 1994 08:49:37 GMT", time.Time{}},
		{"Sun, 06-Nov-94 08:49:37 GMT", time.Time{}}, // RFC 850 needs the long day name
		{"Sunday, 06-Nov-1994 08:49:37 GMT", time.Time{}},
		{"Sun Nov 6 08:49:37 1994", time.Time{}},
		{"Sun Nov  6 08:49:37 94", time.Time{}},
		{"0", time.Time{}},
		{"", time.Time{}},
		{"-1", time.Time{}},
	}
	for _, tt := range tests {
		got, ok := ParseHTTPDate(tt.in, now)
		if ok != !tt.want.IsZero() || !got.Equal(tt.want) {
			t.Errorf("ParseHTTPDate(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, !tt.want.IsZero())
		}
	}
}

// FuzzParseHTTPDate: what the strict parser accepts, the lenient one of
// net/http accepts as the same instant (but for the century of a
// two-digit year and leap seconds), and an IMF-fixdate formats back to
// the same text.
func FuzzParseHTTPDate(f *testing.F) {
	for _, s := range []string{
		"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
		"Sun, 06 Nov 1994  08:49:37 GMT", "Sun, 06 Nov 1994 8:49:37 GMT", "Wed, 31 Dec 2008 23:59:60 GMT", "0",
	} {
		f.Add(s)
	}
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := ParseHTTPDate(s, now)
		if !ok {
			if !got.IsZero() {
				t.Fatalf("ParseHTTPDate(%q) = %v, false; want the zero time", s, got)
			}
			return
		}
		if got.Location() != time.UTC {
			t.Fatalf("ParseHTTPDate(%q) = %v; want UTC", s, got)
		}
		if strings.Contains(s, ":60") {
			return
		}
		lenient, err := http.ParseTime(s)
		if err != nil {
			t.Fatalf("ParseHTTPDate(%q) = %v, but net/http refuses it: %v", s, got, err)
		}
		if lenient.Month() != got.Month() || lenient.Day() != got.Day() || lenient.Year()%100 != got.Year()%100 ||
			lenient.Hour() != got.Hour() || lenient.Minute() != got.Minute() || lenient.Second() != got.Second() {
			t.Fatalf("ParseHTTPDate(%q) = %v; net/http reads %v", s, got, lenient)
		}
		if len(s) == 29 && got.Format(http.TimeFormat) != s {
			t.Fatalf("ParseHTTPDate(%q) = %v, which formats as %q", s, got, got.Format(http.TimeFormat))
		}
	})
}
