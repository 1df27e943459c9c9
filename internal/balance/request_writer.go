package balance

import (
	"bufio"
	"errors"
	"net/http"
	"strings"
)

// errInvalidRequest is returned for a request whose target has control
// characters or spaces: it cannot be written safely.
var errInvalidRequest = errors.New("invalid request line or Host")

// writeRequest writes req, which has no body (see direct), as HTTP/1.1 to
// bw, as http.Request.Write would, except that header fields go in map
// order rather than sorted: sorting them cost more than the rest of the
// request's writing. The same fields are left out or added (Host first,
// User-Agent as set or Go's default, Content-Length: 0 for POST, PUT and
// PATCH, Connection: close when req.Close), the same values are
// cleaned (line breaks to spaces, trimmed) and fields with invalid names are
// dropped. A request this does not cover is written by req.Write.
func writeRequest(bw *bufio.Writer, req *http.Request) error {
	host := req.Host
	if host == "" && req.URL != nil {
		host = req.URL.Host
	}
	if req.URL == nil || req.ContentLength != 0 || req.Method == http.MethodConnect || req.URL.Opaque != "" || !plainHost(host) {
		return req.Write(bw)
	}
	uri := req.URL.RequestURI()
	if hasCTLOrSpace(uri) {
		return errInvalidRequest
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	bw.WriteString(method)
	bw.WriteByte(' ')
	bw.WriteString(uri)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(host)
	bw.WriteString("\r\n")
	ua := "Go-http-client/1.1"
	if v, ok := req.Header["User-Agent"]; ok {
		ua = ""
		if len(v) > 0 {
			ua = v[0]
		}
	}
	if ua != "" {
		writeField(bw, "User-Agent", ua)
	}
	if req.Close && !hasToken(req.Header["Connection"], "close") {
		bw.WriteString("Connection: close\r\n")
	}
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		bw.WriteString("Content-Length: 0\r\n") // many servers expect one
	}
	for k, vs := range req.Header {
		switch k {
		case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
			continue
		}
		if !validFieldName(k) {
			continue
		}
		for _, v := range vs {
			writeField(bw, k, v)
		}
	}
	_, err := bw.WriteString("\r\n")
	return err
}

// newlineToSpace is net/http's cleaning of header values.
var newlineToSpace = strings.NewReplacer("\n", " ", "\r", " ")

// writeField writes one header field, its value cleaned as net/http does.
func writeField(bw *bufio.Writer, k, v string) {
	if needsCleaning(v) {
		v = strings.Trim(newlineToSpace.Replace(v), " \t")
	}
	bw.WriteString(k)
	bw.WriteString(": ")
	bw.WriteString(v)
	bw.WriteString("\r\n")
}

// needsCleaning reports whether v has a line break or leading or trailing
// white space.
func needsCleaning(v string) bool {
	if v == "" {
		return false
	}
	if c := v[0]; c == ' ' || c == '\t' {
		return true
	}
	if c := v[len(v)-1]; c == ' ' || c == '\t' {
		return true
	}
	return strings.ContainsAny(v, "\r\n")
}

// validFieldName reports whether k is an RFC 9110 token.
func validFieldName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// hasCTLOrSpace reports whether s has a control character or a space,
// which would break the request line.
func hasCTLOrSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return true
		}
	}
	return false
}

// plainHost reports whether host can be written as it is: made of the
// bytes net/http accepts in a Host field, and no IPv6 zone (which req.Write
// removes; it also sends an invalid Host as empty, and converts an
// internationalised one).
func plainHost(host string) bool {
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!$&'()*+,-.:;=[]_~", c) >= 0) {
			return false
		}
	}
	return true
}

// hasToken reports whether a comma-separated field has token, ignoring
// case.
func hasToken(lines []string, token string) bool {
	for _, line := range lines {
		for _, t := range strings.Split(line, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
