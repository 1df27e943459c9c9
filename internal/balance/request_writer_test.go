package balance

import (
	"bufio"
	"bytes"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// writtenAs writes req with write and reads it back as a server would.
func writtenAs(t testing.TB, req *http.Request, write func(*bufio.Writer, *http.Request) error) (*http.Request, error) {
	t.Helper()
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	if err := write(bw, req); err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	return http.ReadRequest(bufio.NewReader(&buf))
}

func stdWrite(bw *bufio.Writer, req *http.Request) error { return req.Write(bw) }

// sameRequest fails unless a and b, as read by a server, are the same
// request.
func sameRequest(t testing.TB, what string, a, b *http.Request) {
	t.Helper()
	if a.Method != b.Method || a.RequestURI != b.RequestURI || a.Host != b.Host || a.ContentLength != b.ContentLength || a.Close != b.Close {
		t.Fatalf("%s: writeRequest gives %s %s host %q length %d close %v; req.Write gives %s %s host %q length %d close %v",
			what, a.Method, a.RequestURI, a.Host, a.ContentLength, a.Close, b.Method, b.RequestURI, b.Host, b.ContentLength, b.Close)
	}
	if !reflect.DeepEqual(a.Header, b.Header) {
		t.Fatalf("%s: writeRequest gives header %q; req.Write gives %q", what, a.Header, b.Header)
	}
}

func TestWriteRequestAsNetHTTP(t *testing.T) {
	tests := []struct {
		name   string
		method string
		target string
		host   string
		header http.Header
		close  bool
	}{
		{"GET", "GET", "/a/b?c=d", "example.test", http.Header{"Accept": {"*/*"}, "Cookie": {"a=1", "b=2"}}, false},
		{"no user agent", "GET", "/", "example.test:8080", http.Header{}, false},
		{"empty user agent", "GET", "/", "h", http.Header{"User-Agent": {""}}, false},
		{"HEAD", "HEAD", "/x", "h", http.Header{"User-Agent": {"curl/8"}}, false},
		{"POST without body", "POST", "/form", "h", http.Header{}, false},
		{"DELETE", "DELETE", "/item/1", "h", nil, false},
		{"close", "GET", "/", "h", http.Header{"Connection": {"keep-alive"}}, true},
		{"close already said", "GET", "/", "h", http.Header{"Connection": {"Close"}}, true},
		{"values cleaned", "GET", "/", "h", http.Header{"X-A": {"  padded\t", "line\r\nbreak"}}, false},
		{"invalid names dropped", "GET", "/", "h", http.Header{"Bad Name": {"x"}, "X-Ok": {"y"}}, false},
		{"hop fields left to the writer", "GET", "/", "h", http.Header{"Content-Length": {"5"}, "Transfer-Encoding": {"chunked"}, "Trailer": {"X"}, "Host": {"other"}}, false},
		{"escaped path", "GET", "/a%20b/%2F?q=%C3%A9", "h", nil, false},
	}
	for _, tt := range tests {
		u, err := url.Parse("http://" + tt.host + tt.target)
		if err != nil {
			t.Fatal(err)
		}
		req := &http.Request{Method: tt.method, URL: u, Host: tt.host, Header: tt.header, Close: tt.close}
		got, err := writtenAs(t, req, writeRequest)
		if err != nil {
			t.Fatalf("%s: writeRequest then ReadRequest: %v", tt.name, err)
		}
		want, err := writtenAs(t, req, stdWrite)
		if err != nil {
			t.Fatalf("%s: req.Write then ReadRequest: %v", tt.name, err)
		}
		sameRequest(t, tt.name, got, want)
	}
}

func TestWriteRequestKeepsLinesWhole(t *testing.T) {
	for _, host := range []string{"a b", "a\r\nX-Injected: 1", "a\x00", "fe80::1%25eth0", "bücher.example"} {
		req := &http.Request{Method: "GET", URL: &url.URL{Path: "/"}, Host: host, Header: http.Header{}}
		got, gerr := writtenAs(t, req, writeRequest)
		want, werr := writtenAs(t, req, stdWrite)
		if gerr != nil || werr != nil {
			if (gerr == nil) != (werr == nil) {
				t.Errorf("Host %q: writeRequest = %v, req.Write = %v; want the same", host, gerr, werr)
			}
			continue
		}
		sameRequest(t, "Host "+host, got, want)
		if got.Header.Get("X-Injected") != "" {
			t.Errorf("Host %q injected a header field", host)
		}
	}
	req := &http.Request{Method: "GET", URL: &url.URL{Path: "/", RawQuery: "a=1\r\nX-Injected: 1"}, Host: "h", Header: http.Header{}}
	if _, err := writtenAs(t, req, writeRequest); err == nil {
		t.Errorf("writeRequest with a line break in the query = nil error; want one")
	}
}

// FuzzWriteRequest: whatever the client sent, the request written to the
// target is read back as req.Write's would be, or refused where
// req.Write's would be unreadable.
func FuzzWriteRequest(f *testing.F) {
	f.Add("GET", "/a?b=c", "example.test", "X-A", "v", "Cookie", "a=1")
	f.Add("POST", "/", "h:80", "User-Agent", "", "Connection", "close")
	f.Add("GET", "/%zz", "h", "X B", " v\r\n", "Accept", "\t*/*")
	f.Fuzz(func(t *testing.T, method, target, host, k1, v1, k2, v2 string) {
		u, err := url.ParseRequestURI(target)
		if err != nil || method == "" || !validFieldName(method) || method == http.MethodConnect {
			return
		}
		h := http.Header{} // canonical keys, as the edge's requests have
		h.Add(k1, v1)
		h.Add(k2, v2)
		req := &http.Request{Method: method, URL: u, Host: host, Header: h}
		want, werr := writtenAs(t, req, stdWrite)
		got, gerr := writtenAs(t, req, writeRequest)
		if gerr != nil {
			return // refused: nothing reaches the target
		}
		if werr != nil {
			if strings.ContainsAny(host, " \r\n") && plainHost(host) {
				t.Fatalf("writeRequest wrote a request with Host %q", host)
			}
			return // net/http refuses what it cannot write or read back
		}
		sameRequest(t, "fuzzed", got, want)
	})
}
