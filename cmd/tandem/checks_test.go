package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
)

const checksStack = `
cluster: { node: e2e, data_dir: "{{dir}}" }
edge: { listen: "{{edge}}", cache: { memory: 0 } }
admin: { listen: "{{admin}}" }
apps:
  web:
    command: ["{{testapp}}"]
    health: { path: /healthz, interval: 300ms, timeout: 300ms, rise: 1 }
checks:
  site:
    url: "{{site}}/home"
    interval: 1s
    timeout: 900ms # the site is in the test process, with nodes: give it time
    fall: 2
    rise: 2
    expect: { body: Welcome }
alerts:
  webhook: { url: "{{hook}}/alerts", headers: { Authorization: "Bearer e2e-token" } }
`

// alert is the webhook body tandem posts.
type alert struct {
	Check    string                        `json:"check"`
	Event    string                        `json:"event"` // a one-off event's (a backup alarm)
	State    string                        `json:"state"`
	Previous string                        `json:"previous"`
	Since    time.Time                     `json:"since"`
	Message  string                        `json:"message"`
	Nodes    map[string]admin.CheckVerdict `json:"nodes"`
}

// hookReceiver collects the alerts posted to it.
type hookReceiver struct {
	mu     sync.Mutex // guards alerts
	alerts []alert
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var a alert
	if r.Header.Get("Authorization") != "Bearer e2e-token" || json.NewDecoder(r.Body).Decode(&a) != nil {
		http.Error(w, "bad alert", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	h.alerts = append(h.alerts, a)
	h.mu.Unlock()
}

func (h *hookReceiver) list() []alert {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]alert(nil), h.alerts...)
}

// waitAlerts waits up to timeout for n alerts, then makes sure no more
// come for quiet.
func (h *hookReceiver) waitAlerts(t *testing.T, n int, timeout, quiet time.Duration) []alert {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for len(h.list()) < n && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if got := h.list(); len(got) != n {
		t.Fatalf("after %s: %d alerts %+v; want %d", timeout, len(got), got, n)
	}
	time.Sleep(quiet)
	got := h.list()
	if len(got) != n {
		t.Fatalf("%d alerts after %s more %+v; want still %d", len(got), quiet, got, n)
	}
	return got
}

// checks runs `tandem checks --json`.
func (n *node) checks() []admin.CheckStatus {
	n.t.Helper()
	out, code := n.cli("checks", "--json")
	if code != 0 {
		n.t.Fatalf("tandem checks --json: exit %d\n%s", code, out)
	}
	var cs []admin.CheckStatus
	if err := json.Unmarshal([]byte(out), &cs); err != nil {
		n.t.Fatalf("decode tandem checks --json: %v\n%s", err, out)
	}
	return cs
}

// waitCheck polls `tandem checks --json` until the check is in state.
func (n *node) waitCheck(name, state string, timeout time.Duration) admin.CheckStatus {
	n.t.Helper()
	deadline := time.Now().Add(timeout)
	var last []admin.CheckStatus
	for time.Now().Before(deadline) {
		last = n.checks()
		for _, c := range last {
			if c.Name == name && c.State == state {
				return c
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	n.t.Fatalf("check %s not %s after %s: %+v", name, state, timeout, last)
	return admin.CheckStatus{}
}

// TestUptimeCheckAlerts: a check of a site the test controls (every 1s,
// fall 2, rise 2) comes up without an alert; when the site fails, exactly
// one DOWN alert reaches the webhook; when it recovers, exactly one UP.
// `tandem checks --json` shows each state.
func TestUptimeCheckAlerts(t *testing.T) {
	slow(t)
	t.Parallel()
	var failing atomic.Bool
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("<h1>Welcome</h1>"))
	}))
	defer site.Close()
	hook := new(hookReceiver)
	hookSrv := httptest.NewServer(hook)
	defer hookSrv.Close()

	n := startNode(t, strings.NewReplacer("{{site}}", site.URL, "{{hook}}", hookSrv.URL).Replace(checksStack))
	up := n.waitCheck("site", "up", 20*time.Second)
	if up.URL != site.URL+"/home" || up.Nodes["e2e"].State != "up" || up.LastError != "" || up.LastChecked.IsZero() || len(up.History) < 2 {
		t.Errorf("check once up = %+v; want e2e's verdict up, no error, some history", up)
	}
	if got := hook.list(); len(got) != 0 {
		t.Fatalf("alerts before any failure: %+v; want none (coming up raises nothing)", got)
	}

	failing.Store(true)
	alerts := hook.waitAlerts(t, 1, 10*time.Second, 4*time.Second)
	a := alerts[0]
	if a.Check != "site" || a.State != "down" || a.Previous != "up" || a.Since.IsZero() || !strings.Contains(a.Message, "site is DOWN") ||
		a.Nodes["e2e"].State != "down" || !strings.Contains(a.Nodes["e2e"].Error, "status 503") {
		t.Errorf("down alert = %+v; want site up->down with e2e's error", a)
	}
	down := n.waitCheck("site", "down", 5*time.Second)
	if !strings.Contains(down.LastError, "status 503") || down.Nodes["e2e"].State != "down" {
		t.Errorf("tandem checks while down = %+v; want the 503 and e2e down", down)
	}

	failing.Store(false)
	alerts = hook.waitAlerts(t, 2, 10*time.Second, 3*time.Second)
	if a := alerts[1]; a.Check != "site" || a.State != "up" || a.Previous != "down" || !strings.Contains(a.Message, "site is UP again after") {
		t.Errorf("recovery alert = %+v; want site down->up", a)
	}
	again := n.waitCheck("site", "up", 5*time.Second)
	var ups, downs int
	for _, p := range again.History {
		switch p.State {
		case "up":
			ups++
		case "down":
			downs++
		}
	}
	if again.LastError != "" || downs < 2 || ups < 4 || !again.Since.After(down.Since) {
		t.Errorf("tandem checks after recovery = %+v; want up since after the outage, history with both", again)
	}

	st, err := n.status()
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Checks) != 1 || st.Checks[0].Name != "site" || st.Checks[0].State != "up" {
		t.Errorf("tandem status checks = %+v; want site up", st.Checks)
	}
	if out, code := n.cli("checks"); code != 0 || !strings.Contains(out, "site") || !strings.Contains(out, "UP") || !strings.Contains(out, "1 up") {
		t.Errorf("tandem checks: exit %d\n%s\nwant a table with site UP", code, out)
	}
}
