package balance

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"
)

// earlyHintsBackend reads the request body, then answers 103 Early Hints
// with a Link and then 200 with the body it read, as a framework that
// sends hints before rendering does.
func earlyHintsBackend(t *testing.T, name string) *backend {
	return newBackend(t, name, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Link", "</style.css>; rel=preload; as=style")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		io.WriteString(w, name+":"+string(body))
	})
}

// wireExchange writes head, and body after the first interim response if
// afterContinue, else at once, to addr, and reads every response up to the
// final one. It returns the statuses in order, the Link of each 103, and
// the final body.
func wireExchange(t *testing.T, addr, head, body string, afterContinue bool) (codes []int, links []string, final string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	if !afterContinue {
		io.WriteString(c, body)
	}
	br := bufio.NewReader(c)
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("read response after %v: %v", codes, err)
		}
		codes = append(codes, resp.StatusCode)
		if resp.StatusCode == http.StatusEarlyHints {
			links = append(links, resp.Header.Get("Link"))
		}
		if resp.StatusCode >= 200 {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return codes, links, string(b)
		}
		if resp.StatusCode == http.StatusContinue && afterContinue {
			io.WriteString(c, body)
			afterContinue = false
		}
	}
}

// TestInterimResponsesOnTheWire: a 103 Early Hints of the instance reaches
// the client before the final response, through the reverse proxy as the
// edge uses it, for a request without a body (the pool's own connections)
// and one with a body (net/http's Transport); a client that waits for 100
// Continue gets it before it sends its body, then the hints.
func TestInterimResponsesOnTheWire(t *testing.T) {
	tp := startPool(t, Options{Health: noChecks}, earlyHintsBackend(t, "a"))
	addr := proxy(t, tp).Listener.Addr().String()
	const link = "</style.css>; rel=preload; as=style"
	tests := []struct {
		name, head, body string
		afterContinue    bool
		wantCodes        []int
		wantFinal        string
	}{
		{"GET", "GET /page HTTP/1.1\r\nHost: example.com\r\n\r\n", "", false, []int{103, 200}, "a:"},
		{"POST", "POST /form HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\n\r\n", "x=1", false, []int{103, 200}, "a:x=1"},
		{"POST expecting 100", "POST /form HTTP/1.1\r\nHost: example.com\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n", "x=2", true, []int{100, 103, 200}, "a:x=2"},
	}
	for _, tt := range tests {
		codes, links, final := wireExchange(t, addr, tt.head, tt.body, tt.afterContinue)
		if !slices.Equal(codes, tt.wantCodes) || final != tt.wantFinal {
			t.Errorf("%s: statuses %v, body %q; want %v, %q", tt.name, codes, final, tt.wantCodes, tt.wantFinal)
		}
		if len(links) != 1 || links[0] != link {
			t.Errorf("%s: 103 carried Link %q; want %q", tt.name, links, link)
		}
	}
}

// TestInterimResponsesOfHedgedTry: when the first try hangs and a hedged
// try answers, the client gets the hedged try's 103 and its final
// response, once each.
func TestInterimResponsesOfHedgedTry(t *testing.T) {
	hung, hang := hangingBackend(t, "hung")
	tp := startPool(t, Options{Health: noChecks, Retry: fixedHedge(50 * time.Millisecond)}, hung, earlyHintsBackend(t, "b"))
	busy(t, tp.Pool, "b") // the first try goes to the hung target
	hang.Store(true)
	codes, links, final := wireExchange(t, proxy(t, tp).Listener.Addr().String(), "GET /page HTTP/1.1\r\nHost: example.com\r\n\r\n", "", false)
	if !slices.Equal(codes, []int{103, 200}) || final != "b:" || len(links) != 1 {
		t.Errorf("hedged GET: statuses %v, Links %q, body %q; want 103 with a Link, then 200 b:", codes, links, final)
	}
	if st := tp.Stats(); st.HedgeWins != 1 {
		t.Errorf("Stats = %+v; want the hedged try to have answered", st)
	}
}
