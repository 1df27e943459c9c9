package edge

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// bodyApp answers with the body it read.
type bodyApp struct{}

func (bodyApp) RoundTrip(r *http.Request) (*http.Response, error) {
	var b []byte
	if r.Body != nil { // nil for an empty body
		var err error
		b, err = io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil {
			return nil, err
		}
	}
	return &http.Response{StatusCode: 200, ProtoMajor: 1, ProtoMinor: 1, Request: r, ContentLength: int64(len(b)),
		Header: http.Header{"X-Content-Length": {strconv.FormatInt(r.ContentLength, 10)}}, Body: io.NopCloser(bytes.NewReader(b))}, nil
}

// FuzzChunkedBody sends any bytes as a chunked request body, buffered
// (in memory and in a temp file) or streamed: the app gets exactly what
// net/http's body reader decodes, with its length (unless streamed); a
// body it cannot decode is the client's error (400, or 499 when it just
// ends early), and one over the limit 413 — never a 5xx.
func FuzzChunkedBody(f *testing.F) {
	f.Add([]byte("5\r\nhello\r\n0\r\n\r\n"), false)
	f.Add([]byte("5\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n"), true)
	f.Add([]byte("zz\r\n"), false)
	f.Add([]byte("5\r\nhel"), false)
	f.Add([]byte("400\r\n"+strings.Repeat("y", 1024)+"\r\n0\r\n\r\n"), false)
	f.Add([]byte("1;ext=1\r\na\r\n0\r\n\r\n"), true)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, raw []byte, stream bool) {
		log := new(lockedBuffer)
		s, err := New(Options{Listen: "127.0.0.1:0", Upstreams: map[string]http.RoundTripper{"web": bodyApp{}},
			Routes: []Route{{App: "web", StreamBody: stream}}, AccessLog: log,
			MaxBodyBytes: 2048, BodyBuffer: 64, BodyTempDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		parse := func() *http.Request {
			head := "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
			req, err := http.ReadRequest(bufio.NewReader(io.MultiReader(strings.NewReader(head), bytes.NewReader(raw))))
			if err != nil {
				t.Fatal(err)
			}
			return req
		}
		// What net/http's body reader makes of the bytes (trailer included).
		want, derr := io.ReadAll(parse().Body)
		req := parse()
		req.RemoteAddr = "192.0.2.1:1"
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		lines := log.lines()
		if len(lines) != 1 {
			t.Fatalf("%d access log lines; want 1", len(lines))
		}
		status := lines[0].Status
		switch {
		case derr == nil && len(want) <= 2048:
			if status != 200 || !bytes.Equal(rec.Body.Bytes(), want) {
				t.Errorf("valid body of %d bytes: %d, app echoed %d bytes; want 200 and the body", len(want), status, rec.Body.Len())
			}
			wantCL := strconv.Itoa(len(want))
			if stream {
				wantCL = "-1"
			}
			if cl := rec.Header().Get("X-Content-Length"); cl != wantCL {
				t.Errorf("valid body of %d bytes, streamed %v: the app saw Content-Length %s; want %s", len(want), stream, cl, wantCL)
			}
		case derr == nil:
			if status != 413 {
				t.Errorf("body of %d bytes over the 2048 limit: %d; want 413", len(want), status)
			}
		case errors.Is(derr, io.ErrUnexpectedEOF):
			if status != 499 && status != 413 {
				t.Errorf("body cut short (%v): %d; want 499", derr, status)
			}
		default:
			if status != 400 && status != 413 {
				t.Errorf("malformed body (%v): %d; want 400", derr, status)
			}
		}
	})
}
