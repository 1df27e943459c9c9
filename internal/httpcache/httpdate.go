package httpcache

import "time"

// Names in HTTP-dates; they are case-sensitive (RFC 9110 §5.6.7).
var (
	dayNames     = [7]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}
	longDayNames = [7]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
	monthNames   = [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
)

// ParseHTTPDate parses an HTTP-date exactly as RFC 9110 §5.6.7 defines
// it: the IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT" that senders
// generate, or one of the two obsolete forms recipients must accept, the
// RFC 850 "Sunday, 06-Nov-94 08:49:37 GMT" and asctime's
// "Sun Nov  6 08:49:37 1994". Unlike [net/http.ParseTime] it accepts no
// other spacing, no one-digit fields, no other case, and no date whose
// day name is not its weekday. now resolves the RFC 850 form's two-digit
// year: a date more than 50 years after now is taken from the century
// before.
func ParseHTTPDate(s string, now time.Time) (time.Time, bool) {
	switch {
	case len(s) == 29 && s[3] == ',':
		return parseIMFFixdate(s)
	case len(s) == 24 && s[3] == ' ':
		return parseASCTime(s)
	}
	return parseRFC850(s, now)
}

// parseIMFFixdate: day-name "," SP 2DIGIT SP month SP 4DIGIT SP
// time-of-day SP "GMT".
func parseIMFFixdate(s string) (time.Time, bool) {
	if s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' || s[25:] != " GMT" {
		return time.Time{}, false
	}
	day, ok1 := digits(s[5:7])
	month, ok2 := monthIndex(s[8:11])
	year, ok3 := digits(s[12:16])
	if !ok1 || !ok2 || !ok3 {
		return time.Time{}, false
	}
	return makeDate(year, month, day, s[17:25], weekdayIndex(dayNames[:], s[:3]))
}

// parseASCTime: day-name SP month SP ( 2DIGIT / ( SP DIGIT ) ) SP
// time-of-day SP 4DIGIT.
func parseASCTime(s string) (time.Time, bool) {
	if s[7] != ' ' || s[10] != ' ' || s[19] != ' ' {
		return time.Time{}, false
	}
	month, ok1 := monthIndex(s[4:7])
	dd := s[8:10]
	if dd[0] == ' ' {
		dd = dd[1:]
	}
	day, ok2 := digits(dd)
	year, ok3 := digits(s[20:24])
	if !ok1 || !ok2 || !ok3 {
		return time.Time{}, false
	}
	return makeDate(year, month, day, s[11:19], weekdayIndex(dayNames[:], s[:3]))
}

// parseRFC850: day-name-l "," SP 2DIGIT "-" month "-" 2DIGIT SP
// time-of-day SP "GMT".
func parseRFC850(s string, now time.Time) (time.Time, bool) {
	i := 0
	for i < len(s) && s[i] != ',' {
		i++
	}
	wd := weekdayIndex(longDayNames[:], s[:i])
	rest := s[i:]
	if wd < 0 || len(rest) != 24 || rest[:2] != ", " || rest[4] != '-' || rest[8] != '-' || rest[11] != ' ' || rest[20:] != " GMT" {
		return time.Time{}, false
	}
	day, ok1 := digits(rest[2:4])
	month, ok2 := monthIndex(rest[5:8])
	yy, ok3 := digits(rest[9:11])
	if !ok1 || !ok2 || !ok3 {
		return time.Time{}, false
	}
	year := now.Year()/100*100 + yy
	if year > now.Year()+50 {
		year -= 100
	}
	return makeDate(year, month, day, rest[12:20], wd)
}

// makeDate checks the time of day ("08:49:37"; a leap second is 60) and
// that the day exists in that month and falls on the named weekday.
func makeDate(year int, month time.Month, day int, tod string, weekday int) (time.Time, bool) {
	if weekday < 0 || len(tod) != 8 || tod[2] != ':' || tod[5] != ':' {
		return time.Time{}, false
	}
	hour, ok1 := digits(tod[0:2])
	minute, ok2 := digits(tod[3:5])
	sec, ok3 := digits(tod[6:8])
	if !ok1 || !ok2 || !ok3 || hour > 23 || minute > 59 || sec > 60 {
		return time.Time{}, false
	}
	t := time.Date(year, month, day, hour, minute, min(sec, 59), 0, time.UTC)
	if t.Day() != day || int(t.Weekday()) != weekday {
		return time.Time{}, false
	}
	if sec == 60 {
		t = t.Add(time.Second)
	}
	return t, true
}

// digits parses a fixed-width run of ASCII digits.
func digits(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func monthIndex(s string) (time.Month, bool) {
	for i, m := range monthNames {
		if s == m {
			return time.Month(i + 1), true
		}
	}
	return 0, false
}

// weekdayIndex returns the weekday named s in names, or -1.
func weekdayIndex(names []string, s string) int {
	for i, n := range names {
		if s == n {
			return i
		}
	}
	return -1
}
