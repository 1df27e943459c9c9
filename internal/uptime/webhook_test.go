package uptime

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func testNotice() Notice {
	at := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	return noticeOf(&Alert{Check: "home", From: Up, To: Down, Since: at, FromSince: at.Add(-time.Hour),
		Nodes: map[string]Verdict{"n1": {Check: "home", Node: "n1", State: Down, At: at, Error: "status 503, want 200-399"},
			"n2": {Check: "home", Node: "n2", State: Up, At: at}}}, "https://example.org/")
}

func TestWebhookPostsJSON(t *testing.T) {
	var got map[string]any
	var auth, ctype string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth, ctype = r.Header.Get("Authorization"), r.Header.Get("Content-Type")
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			t.Errorf("decode webhook body: %v", err)
		}
	}))
	defer srv.Close()
	w, err := NewWebhook(WebhookOptions{URL: srv.URL + "/hook", Headers: map[string]string{"Authorization": "Bearer t0k"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Notify(t.Context(), testNotice()); err != nil {
		t.Fatalf("Notify() = %v", err)
	}
	if auth != "Bearer t0k" || ctype != "application/json" {
		t.Errorf("headers Authorization %q, Content-Type %q; want the configured token and JSON", auth, ctype)
	}
	want := map[string]any{"check": "home", "state": "down", "previous": "up", "since": "2025-03-04T05:06:07Z",
		"message": "home is DOWN: 1 of 2 nodes see it failing (https://example.org/): n1: status 503, want 200-399"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("webhook body %s = %v; want %v", k, got[k], v)
		}
	}
	nodes, _ := got["nodes"].(map[string]any)
	n1, _ := nodes["n1"].(map[string]any)
	if len(nodes) != 2 || n1["state"] != "down" || n1["at"] != "2025-03-04T05:06:07Z" || n1["error"] != "status 503, want 200-399" {
		t.Errorf("webhook body nodes = %v; want n1 down with its error, and n2", nodes)
	}
}

// answers is a webhook endpoint reached without a network that answers
// the given statuses in turn (the last one from then on), noting when
// each try came.
type answers struct {
	statuses []int
	tries    atomic.Int32
	at       []time.Time
}

func (a *answers) RoundTrip(r *http.Request) (*http.Response, error) {
	io.Copy(io.Discard, r.Body)
	i := int(a.tries.Add(1)) - 1
	a.at = append(a.at, time.Now())
	code := a.statuses[min(i, len(a.statuses)-1)]
	if code == 0 {
		return nil, errors.New("connection refused")
	}
	rec := httptest.NewRecorder()
	rec.WriteHeader(code)
	return rec.Result(), nil
}

func TestWebhookRetries(t *testing.T) {
	tests := []struct {
		statuses []int
		tries    int
		err      string // "" for delivered
	}{
		{[]int{204}, 1, ""},
		{[]int{503, 0, 200}, 3, ""},
		{[]int{429, 200}, 2, ""},
		{[]int{503}, 4, "webhook hooks.test: 4 tries: status 503"},
		{[]int{0}, 4, "4 tries: connection refused"},
		{[]int{404}, 1, "webhook hooks.test: 1 try: status 404"},
		{[]int{502, 400}, 2, "2 tries: status 400"},
	}
	for _, tt := range tests {
		synctest.Test(t, func(t *testing.T) {
			a := &answers{statuses: tt.statuses}
			w, err := NewWebhook(WebhookOptions{URL: "https://hooks.test/T0/secret", Transport: a})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			err = w.Notify(t.Context(), testNotice())
			if int(a.tries.Load()) != tt.tries || (tt.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.err)) {
				t.Errorf("answers %v: %d tries, Notify() = %v; want %d tries and error %q", tt.statuses, a.tries.Load(), err, tt.tries, tt.err)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("Notify() = %v; want the URL's path left out", err)
			}
			for i, at := range a.at {
				if want := time.Duration(1<<i-1) * time.Second; at.Sub(start) != want {
					t.Errorf("answers %v: try %d at +%s; want +%s (pauses of 1s, 2s, 4s)", tt.statuses, i+1, at.Sub(start), want)
				}
			}
		})
	}
}

func TestWebhookGivesUpWhenStopped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := &answers{statuses: []int{503}}
		w, err := NewWebhook(WebhookOptions{URL: "https://hooks.test/", Transport: a})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 2500*time.Millisecond)
		defer cancel()
		err = w.Notify(ctx, testNotice())
		if !errors.Is(err, context.DeadlineExceeded) || a.tries.Load() != 2 || !strings.Contains(err.Error(), "gave up after 2 tries") {
			t.Errorf("Notify() stopped after 2.5s = %v after %d tries; want it to give up after 2 tries", err, a.tries.Load())
		}
	})
}

func TestNewWebhookRefusesBadURL(t *testing.T) {
	for _, u := range []string{"", "ftp://a/", "http://", "::"} {
		if _, err := NewWebhook(WebhookOptions{URL: u}); err == nil {
			t.Errorf("NewWebhook(%q) = nil error; want one", u)
		}
	}
}
