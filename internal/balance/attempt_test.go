package balance

import (
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
)

// TestOnAttemptSeesEachTry: the hook is told of every try with its target
// and number, learns each outcome, and may replace the headers sent
// without touching the caller's request.
func TestOnAttemptSeesEachTry(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := l.Addr().String()
	l.Close()
	echo := newBackend(t, "echo", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Header.Get("X-Try"))
	})
	type seen struct {
		a      Attempt
		status int
		err    error
	}
	var mu sync.Mutex
	var tries []seen
	tp := startPool(t, Options{
		Health:  noChecks,
		Passive: PassiveHealth{ConsecutiveErrors: -1, Consecutive5xx: -1},
		OnAttempt: func(out *http.Request, a Attempt) func(*http.Response, error) {
			if out.URL.Host != a.Addr {
				t.Errorf("OnAttempt: out.URL.Host = %q; want the target's address %q", out.URL.Host, a.Addr)
			}
			h := out.Header.Clone()
			h.Set("X-Try", a.Target)
			out.Header = h
			return func(resp *http.Response, err error) {
				s := seen{a: a, err: err}
				if resp != nil {
					s.status = resp.StatusCode
				}
				mu.Lock()
				tries = append(tries, s)
				mu.Unlock()
			}
		},
	}, echo)
	if err := tp.Add(Target{ID: "dead", Addr: deadAddr}); err != nil {
		t.Fatal(err)
	}
	// Requests go to either target at random; go on until one went to the
	// dead target first and was retried.
	for i := 0; i < 50; i++ {
		mu.Lock()
		tries = nil
		mu.Unlock()
		req, _ := http.NewRequest(http.MethodGet, "http:///", nil)
		resp, err := tp.RoundTrip(req)
		if err != nil {
			t.Fatalf("GET: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "echo" {
			t.Fatalf("echo saw X-Try %q; want echo", body)
		}
		if req.Header.Get("X-Try") != "" {
			t.Fatalf("the caller's request got X-Try %q; want its header untouched", req.Header.Get("X-Try"))
		}
		mu.Lock()
		got := tries
		mu.Unlock()
		if len(got) == 1 {
			if got[0].a.N != 1 || got[0].a.Target != "echo" || got[0].status != 200 || got[0].err != nil {
				t.Fatalf("single try = %+v; want attempt 1 at echo, 200", got[0])
			}
			continue
		}
		if len(got) != 2 || got[0].a.Target != "dead" || got[0].a.N != 1 || got[0].err == nil ||
			got[1].a.Target != "echo" || got[1].a.N != 2 || got[1].status != 200 || got[1].err != nil {
			t.Fatalf("tries = %+v; want attempt 1 failing at dead, attempt 2 answered 200 by echo", got)
		}
		return
	}
	t.Fatal("no request went to the dead target first in 50 tries")
}
