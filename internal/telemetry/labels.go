package telemetry

// methodLabel normalises a request method to the set the OpenTelemetry
// HTTP conventions know; any other method (PURGE, BAN, made-up ones) is
// "_OTHER", so that clients cannot create label values at will.
func methodLabel(m string) string {
	switch m {
	case "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH":
		return m
	}
	return "_OTHER"
}

// statusClasses are the values of the status_class label.
var statusClasses = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx"}

// statusClass is the index in statusClasses of an HTTP status: its
// hundreds, with out-of-range values clamped (499 is 4xx; anything
// above 599 counts as a server error).
func statusClass(status int) int {
	return min(max(status/100, 1), 5) - 1
}
