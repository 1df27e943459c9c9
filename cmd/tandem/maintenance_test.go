package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
)

// TestPauseAndMaintenance: a pause holds requests until resume; a pause
// longer than the hold answers 503; maintenance serves its page until it
// is turned off.
func TestPauseAndMaintenance(t *testing.T) {
	t.Parallel()
	n := startNode(t, deployTestapp)
	n.waitFor("3 healthy instances", 20*time.Second, healthy("web", 3))
	url := "http://" + n.edge + "/"
	type answer struct {
		status int
		body   string
		took   time.Duration
	}
	fetch := func(accept string) answer {
		start := time.Now()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Accept", accept)
		resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
		if err != nil {
			t.Errorf("GET during pause: %v", err)
			return answer{}
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return answer{resp.StatusCode, string(body), time.Since(start)}
	}

	// Held, then resumed: the request is served.
	if out, code := n.cli("pause", "web", "--hold", "10s"); code != 0 || !strings.Contains(out, "paused") {
		t.Fatalf("tandem pause: exit %d\n%s", code, out)
	}
	got := make(chan answer, 1)
	go func() { got <- fetch("*/*") }()
	n.waitFor("a held request", 5*time.Second, func(st admin.Status) bool { return st.Apps[0].Gate.Held == 1 })
	time.Sleep(500 * time.Millisecond)
	if out, code := n.cli("resume", "web"); code != 0 || !strings.Contains(out, "open") {
		t.Fatalf("tandem resume: exit %d\n%s", code, out)
	}
	if a := <-got; a.status != 200 || a.took < 500*time.Millisecond {
		t.Errorf("request held by a pause: status %d after %s; want 200 after the resume", a.status, a.took)
	}

	// Held past the hold: 503.
	n.cli("pause", "web", "--hold", "300ms")
	if a := fetch("*/*"); a.status != 503 || a.took < 300*time.Millisecond {
		t.Errorf("request held past the hold: status %d after %s; want 503 after 300ms", a.status, a.took)
	}

	// Maintenance: the page, at once; the status says so.
	if out, code := n.cli("maintenance", "web", "on", "--message", "Upgrading the database, back at 15:00"); code != 0 {
		t.Fatalf("tandem maintenance on: exit %d\n%s", code, out)
	}
	if a := fetch("text/html"); a.status != 503 || !strings.Contains(a.body, "Upgrading the database, back at 15:00") || a.took > 2*time.Second {
		t.Errorf("request in maintenance: status %d, body %q; want the 503 maintenance page", a.status, a.body)
	}
	if text, _ := n.cli("status"); !strings.Contains(text, "maintenance page") {
		t.Errorf("tandem status does not show the maintenance:\n%s", text)
	}
	if out, code := n.cli("maintenance", "web", "off"); code != 0 {
		t.Fatalf("tandem maintenance off: exit %d\n%s", code, out)
	}
	if a := fetch("*/*"); a.status != 200 {
		t.Errorf("after maintenance off: status %d; want 200", a.status)
	}
}
