package main

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
)

const authTestapp = `
cluster: { data_dir: "{{dir}}" }
edge: { listen: "{{edge}}" }
admin: { listen: "{{admin}}" }
apps:
  web:
    command: ["{{testapp}}"]
    instances: 1
    env: { TESTAPP_VERSION: one }
    health: { path: /healthz, interval: 500ms, timeout: 500ms, rise: 1 }
`

// createToken makes a token through the CLI with n's root token.
func (n *node) createToken(name string, args ...string) admin.IssuedToken {
	n.t.Helper()
	out, code := n.cli("token", append([]string{"create", name, "--json"}, args...)...)
	var tok admin.IssuedToken
	if err := json.Unmarshal([]byte(out), &tok); code != 0 || err != nil || tok.Value == "" {
		n.t.Fatalf("tandem token create %s: exit %d, %v\n%s", name, code, err, out)
	}
	return tok
}

// TestAdminAuth: without a token, with a wrong one, and with a read
// token, deploys and purges are refused (401, 401, 403) and change
// nothing; a deploy token deploys until it is revoked; the audit log
// records every attempt with who, what and when.
func TestAdminAuth(t *testing.T) {
	t.Parallel()
	start := time.Now().Add(-time.Second)
	n := startNode(t, authTestapp)
	n.waitFor("1 healthy instance", 20*time.Second, healthy("web", 1))
	cached := "http://" + n.edge + "/cacheable/a?tag=red"
	getCached(t, http.DefaultClient, cached)
	if _, st := getCached(t, http.DefaultClient, cached); !isHit(st) {
		t.Fatalf("GET %s not cached: %q", cached, st)
	}

	resp, err := http.Get("http://" + n.admin + "/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	var apiErr struct{ Error string }
	json.NewDecoder(resp.Body).Decode(&apiErr)
	resp.Body.Close()
	if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") || apiErr.Error == "" {
		t.Errorf("GET /v1/status without a token = %d, WWW-Authenticate %q, error %q; want 401, Bearer, a JSON error",
			resp.StatusCode, resp.Header.Get("WWW-Authenticate"), apiErr.Error)
	}

	before, err := n.status()
	if err != nil {
		t.Fatal(err)
	}
	wrong := admin.TokenPrefix + "0123456789abcdef_" + strings.Repeat("A", 43)
	reader := n.createToken("reader", "--scope", "read")
	refused := []struct {
		args []string
		want string // in the output
	}{
		{[]string{"deploy", "web", "--env", "TESTAPP_VERSION=two"}, "--token-file"}, // no token: the message says how to give one
		{[]string{"purge", "--tag", "red"}, "no token"},
		{[]string{"deploy", "web", "--env", "TESTAPP_VERSION=two", "--token", wrong}, "unknown or revoked token 0123456789abcdef"},
		{[]string{"purge", "--tag", "red", "--token", wrong}, "unknown or revoked"},
		{[]string{"deploy", "web", "--env", "TESTAPP_VERSION=two", "--token", reader.Value}, "needs scope deploy"},
		{[]string{"purge", "--tag", "red", "--token", reader.Value}, "needs scope purge"},
	}
	for _, r := range refused {
		out, code := runCLI(t, append(r.args, "--admin", n.admin)...)
		if code != 1 || !strings.Contains(out, r.want) {
			t.Errorf("tandem %s: exit %d; want 1 and %q\n%s", strings.Join(r.args, " "), code, r.want, out)
		}
	}
	if out, code := runCLI(t, "status", "--admin", n.admin, "--token", reader.Value); code != 0 || !strings.Contains(out, "web") {
		t.Errorf("tandem status with a read token: exit %d\n%s", code, out)
	}
	st, err := n.status()
	if err != nil || st.Apps[0].Release != "v1" || !reflect.DeepEqual(st.Apps[0].Deploy, before.Apps[0].Deploy) {
		t.Errorf("after the refused deploys: %+v, %v; want release v1 and the same last deploy %+v", st.Apps, err, before.Apps[0].Deploy)
	}
	if _, cs := getCached(t, http.DefaultClient, cached); !isHit(cs) {
		t.Errorf("after the refused purges GET %s = %q; want still a hit", cached, cs)
	}

	ci := n.createToken("ci", "--scope", "deploy", "--ttl", "1d")
	if out, code := runCLI(t, "deploy", "web", "--env", "TESTAPP_VERSION=two", "--admin", n.admin, "--token", ci.Value); code != 0 || !strings.Contains(out, "v2") {
		t.Fatalf("tandem deploy with a deploy token: exit %d\n%s", code, out)
	}
	if out, code := n.cli("token", "revoke", ci.ID); code != 0 {
		t.Fatalf("tandem token revoke: exit %d\n%s", code, out)
	}
	if out, code := runCLI(t, "deploy", "web", "--env", "TESTAPP_VERSION=three", "--admin", n.admin, "--token", ci.Value); code != 1 || !strings.Contains(out, "unknown or revoked") {
		t.Errorf("tandem deploy with a revoked token: exit %d; want 1, unknown or revoked\n%s", code, out)
	}
	if st, err := n.status(); err != nil || st.Apps[0].Release != "v2" {
		t.Errorf("release after the revoked token's deploy = %+v, %v; want v2", st.Apps, err)
	}
	if out, _ := n.cli("token", "list"); !strings.Contains(out, "reader") || strings.Contains(out, ci.ID) {
		t.Errorf("tandem token list: want reader and not the revoked ci\n%s", out)
	}

	checkAudit(t, n, start, reader, ci)
}

// checkAudit reads the audit log through `tandem audit --json` and finds
// TestAdminAuth's attempts in it, in order.
func checkAudit(t *testing.T, n *node, since time.Time, reader, ci admin.IssuedToken) {
	t.Helper()
	out, code := n.cli("audit", "--json", "--limit", "200")
	var list admin.AuditList
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil {
		t.Fatalf("tandem audit --json: exit %d, %v\n%s", code, err, out)
	}
	const deployPath = "/v1/apps/web/deploy"
	want := []struct {
		who, method, path string
		status            int
		outcome, detail   string
	}{
		{"anonymous", "GET", "/v1/status", 401, "denied", "no token"},
		{"root", "POST", "/v1/tokens", 200, "ok", "name=reader scopes=read"},
		{"anonymous", "POST", deployPath, 401, "denied", "no token"},
		{"anonymous", "POST", "/v1/purge", 401, "denied", "no token"},
		{"anonymous", "POST", deployPath, 401, "denied", "unknown or revoked token 0123456789abcdef"},
		{"anonymous", "POST", "/v1/purge", 401, "denied", "unknown or revoked"},
		{"reader", "POST", deployPath, 403, "denied", "needs scope deploy"},
		{"reader", "POST", "/v1/purge", 403, "denied", "needs scope purge"},
		{"ci", "POST", deployPath, 0, "started", "set_env=TESTAPP_VERSION"},
		{"ci", "POST", deployPath, 200, "ok", "set_env=TESTAPP_VERSION"},
		{"root", "DELETE", "/v1/tokens/" + ci.ID, 200, "ok", ""},
		{"anonymous", "POST", deployPath, 401, "denied", "unknown or revoked token " + ci.ID},
	}
	i := 0
	for _, e := range list.Entries {
		if i == len(want) {
			break
		}
		w := want[i]
		who := e.TokenName
		if strings.HasPrefix(who, "root@") {
			who = "root" // the node's root token, root@<node>
		}
		if who != w.who || e.Method != w.method || e.Path != w.path || e.Status != w.status || e.Outcome != w.outcome ||
			!strings.Contains(e.Reason+e.Summary, w.detail) {
			continue
		}
		if e.Time.Before(since) || e.Time.After(time.Now()) || !strings.HasPrefix(e.Remote, "127.0.0.1:") {
			t.Errorf("audit entry %+v: want a time within the test and a loopback remote address", e)
		}
		if w.who == "reader" && e.TokenID != reader.ID {
			t.Errorf("audit entry %+v: token id %q; want %q", e, e.TokenID, reader.ID)
		}
		i++
	}
	if i < len(want) {
		t.Errorf("audit log lacks, in order after the first %d, %+v; it has:\n%s", i, want[i], out)
	}
	if out, _ := n.cli("audit"); !strings.Contains(out, "reader ("+reader.ID+")") || !strings.Contains(out, "denied") {
		t.Errorf("tandem audit table does not show the reader's refusals:\n%s", out)
	}
}

// TestAdminTLS: with admin.tls the admin API answers over HTTPS only; the
// CLI reaches it with --admin https://... or -f, trusting the CA given
// with --tls-ca.
func TestAdminTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeTestCert(t, certFile, keyFile)
	sf := writeStack(t, strings.Replace(authTestapp, `admin: { listen: "{{admin}}" }`,
		`admin: { listen: "{{admin}}", tls: { cert: "`+certFile+`", key: "`+keyFile+`" } }`, 1))
	n := startStack(t, sf)
	https := "https://" + n.admin
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, code := runCLI(t, "status", "--admin", https, "--tls-ca", certFile, "--token-file", n.tokenFile)
		if code == 0 && strings.Contains(out, "web") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tandem status over HTTPS: exit %d\n%s", code, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out, code := runCLI(t, "status", "-f", sf.path, "--tls-ca", certFile); code != 0 {
		t.Errorf("tandem status -f (HTTPS from admin.tls, the root token from data_dir): exit %d\n%s", code, out)
	}
	if out, code := runCLI(t, "status", "--admin", https, "--token-file", n.tokenFile); code != 1 || !strings.Contains(out, "certificate") {
		t.Errorf("tandem status over HTTPS without --tls-ca: exit %d; want 1 and a certificate error\n%s", code, out)
	}
	if out, code := runCLI(t, "status", "--admin", n.admin, "--token-file", n.tokenFile); code == 0 {
		t.Errorf("tandem status over plain HTTP: exit 0; want a failure\n%s", out)
	}
}

// writeTestCert saves the certificate (valid for 127.0.0.1, its own CA)
// and key of httptest's TLS servers as PEM files.
func writeTestCert(t *testing.T, certFile, keyFile string) {
	t.Helper()
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	cert := srv.TLS.Certificates[0]
	srv.Close()
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600); err != nil {
		t.Fatal(err)
	}
}
