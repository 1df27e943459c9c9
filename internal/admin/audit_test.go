package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestAuditLineFormat pins the format tools read: one JSON object per
// line, with these keys.
func TestAuditLineFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	l := NewAuditLog(path)
	defer l.Close()
	e := AuditEntry{
		Time: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC), Request: "00ff", TokenID: "0123456789abcdef", TokenName: "ci",
		Remote: "127.0.0.1:5000", Method: "POST", Path: "/v1/apps/web/deploy", Status: 200, Outcome: OutcomeOK,
		Summary: "app=web set_env=FOO",
	}
	if err := l.Append(e); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(AuditEntry{Time: e.Time, TokenName: anonymous, Remote: "127.0.0.1:5001", Method: "GET", Path: "/v1/status", Status: 401, Outcome: OutcomeDenied, Reason: "no token"}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"time":"2026-05-01T12:00:00Z","request":"00ff","token_id":"0123456789abcdef","token_name":"ci","remote":"127.0.0.1:5000","method":"POST","path":"/v1/apps/web/deploy","status":200,"outcome":"ok","summary":"app=web set_env=FOO"}
{"time":"2026-05-01T12:00:00Z","token_name":"anonymous","remote":"127.0.0.1:5001","method":"GET","path":"/v1/status","status":401,"outcome":"denied","reason":"no token"}
`
	if string(data) != want {
		t.Errorf("audit log =\n%s\nwant\n%s", data, want)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("audit log mode = %v; want 0600", fi.Mode().Perm())
	}
}

// TestAuditTail reads the last entries across read chunks and skips
// lines that are not entries.
func TestAuditTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	var b strings.Builder
	const n = 3000 // about 400 KiB: several chunks
	for i := range n {
		line, _ := json.Marshal(AuditEntry{Method: "POST", Path: fmt.Sprintf("/v1/purge/%d", i), Summary: strings.Repeat("x", 60)})
		b.Write(line)
		b.WriteByte('\n')
		if i == n-2 {
			b.WriteString(`{"time":"2026-0` + "\n") // a torn line
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	l := NewAuditLog(path)
	for _, limit := range []int{1, 3, 1000, n, n + 10} {
		es, err := l.Tail(limit)
		want := min(limit, n)
		if err != nil || len(es) != want {
			t.Fatalf("Tail(%d) = %d entries, %v; want %d", limit, len(es), err, want)
		}
		if first := fmt.Sprintf("/v1/purge/%d", n-want); es[0].Path != first || es[len(es)-1].Path != fmt.Sprintf("/v1/purge/%d", n-1) {
			t.Errorf("Tail(%d) = %s ... %s; want %s ... /v1/purge/%d", limit, es[0].Path, es[len(es)-1].Path, first, n-1)
		}
	}
	if es, err := NewAuditLog(filepath.Join(t.TempDir(), "none.log")).Tail(10); err != nil || len(es) != 0 {
		t.Errorf("Tail of a missing log = %v, %v; want no entries", es, err)
	}
}

// TestAuditFailClosed: when the audit log cannot be written (a full
// disk, a missing directory), calls that change something are refused
// with 503 and do not run; reads still work.
func TestAuditFailClosed(t *testing.T) {
	paths := map[string]string{"missing directory": filepath.Join(t.TempDir(), "gone", "audit.log")}
	if _, err := os.Stat("/dev/full"); err == nil {
		paths["full disk"] = "/dev/full"
	}
	for name, path := range paths {
		t.Run(name, func(t *testing.T) {
			var purges atomic.Int32
			ts := startAuthServer(t, Options{Purge: countingPurge(&purges), Audit: NewAuditLog(path)})
			if err := ts.audit.Append(AuditEntry{}); !errors.Is(err, ErrAuditUnavailable) {
				t.Fatalf("Append = %v; want ErrAuditUnavailable", err)
			}
			resp, body := ts.do("POST", "/v1/purge", "Bearer "+ts.root, `{"url":"http://x/"}`)
			if resp.StatusCode != 503 || !strings.Contains(body, "audit log unavailable") {
				t.Errorf("POST /v1/purge = %d %q; want 503 audit log unavailable", resp.StatusCode, body)
			}
			id, _, _ := ParseToken(ts.root)
			if resp, body := ts.do("DELETE", "/v1/tokens/"+id, "Bearer "+ts.root, ""); resp.StatusCode != 503 {
				t.Errorf("DELETE /v1/tokens/%s = %d %q; want 503", id, resp.StatusCode, body)
			}
			if n := purges.Load(); n != 0 {
				t.Errorf("purges run = %d; want 0", n)
			}
			if resp, body := ts.do("GET", "/v1/status", "Bearer "+ts.root, ""); resp.StatusCode != 200 {
				t.Errorf("GET /v1/status = %d %q; want 200: reads are not audited", resp.StatusCode, body)
			}
			if resp, _ := ts.do("POST", "/v1/purge", "", `{}`); resp.StatusCode != 401 {
				t.Errorf("POST /v1/purge without a token = %d; want 401 still", resp.StatusCode)
			}
		})
	}
}

// TestAuditRecordsCalls: a refused call has one denied entry; a call
// that changes something has started and outcome entries naming the
// token, with a summary; reads are not recorded.
func TestAuditRecordsCalls(t *testing.T) {
	var purges atomic.Int32
	ts := startAuthServer(t, Options{Purge: countingPurge(&purges)})
	ctx := t.Context()
	reader := ts.issue("reader", 0, ScopeRead)
	ts.do("POST", "/v1/purge", "Bearer "+reader, `{"tags":["a"]}`)
	ts.do("GET", "/v1/status", "", "")
	ts.do("GET", "/v1/status", "Bearer "+reader, "")
	if _, err := ts.client(ts.root).Purge(ctx, PurgeRequest{Tags: []string{"red", "blue"}, Soft: true}); err != nil {
		t.Fatal(err)
	}
	es, err := ts.client(ts.root).Audit(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		who, method, path string
		status            int
		outcome, summary  string
	}
	want := []row{
		{"reader", "POST", "/v1/purge", 403, OutcomeDenied, ""},
		{anonymous, "GET", "/v1/status", 401, OutcomeDenied, ""},
		{"root", "POST", "/v1/purge", 0, OutcomeStarted, "tags=red,blue soft=true"},
		{"root", "POST", "/v1/purge", 200, OutcomeOK, "tags=red,blue soft=true"},
	}
	if len(es) != len(want) {
		t.Fatalf("Audit = %+v; want %d entries", es, len(want))
	}
	for i, e := range es {
		got := row{e.TokenName, e.Method, e.Path, e.Status, e.Outcome, e.Summary}
		if got != want[i] || e.Time.IsZero() || !strings.HasPrefix(e.Remote, "127.0.0.1:") {
			t.Errorf("entry %d = %+v; want %+v with a time and a remote address", i, e, want[i])
		}
	}
	if es[2].Request == "" || es[2].Request != es[3].Request || es[3].TokenID == "" {
		t.Errorf("started and outcome entries: request %q and %q, token %q; want one request id and the token id", es[2].Request, es[3].Request, es[3].TokenID)
	}
	if !strings.Contains(es[0].Reason, "needs scope purge") {
		t.Errorf("denied entry reason = %q; want the scope needed", es[0].Reason)
	}
	if _, err := ts.client(reader).Audit(ctx, 10); !errors.Is(err, ErrForbidden) {
		t.Errorf("Audit with a read token = %v; want ErrForbidden", err)
	}
}
