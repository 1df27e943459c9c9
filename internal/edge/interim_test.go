package edge

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"testing"
)

// TestInterimKeepsRequestID: an app's 103 Early Hints reaches the client
// on an uncached route, and the final response still carries the
// request id (the reverse proxy clears the header after a 1xx).
func TestInterimKeepsRequestID(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</app.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		w.Write([]byte("page"))
	}))
	defer app.Close()
	s, _ := newTestEdge(t, map[string]http.RoundTripper{"web": toServer{app.Listener.Addr().String()}}, []Route{{App: "web"}}, nil)
	front := httptest.NewServer(s.Handler())
	defer front.Close()
	var hints []int
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		if h.Get("Link") != "" {
			hints = append(hints, code)
		}
		return nil
	}}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", front.URL+"/", nil)
	resp, err := front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(hints) != 1 || hints[0] != http.StatusEarlyHints {
		t.Errorf("interim responses with Link = %v; want one 103", hints)
	}
	if resp.StatusCode != 200 || resp.Header.Get("X-Request-Id") == "" {
		t.Errorf("final response %d with X-Request-Id %q; want 200 with the request id", resp.StatusCode, resp.Header.Get("X-Request-Id"))
	}
}
