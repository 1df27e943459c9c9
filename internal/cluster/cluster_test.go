package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestSingleNode opens a one-node cluster, writes a key, and shows that
// etcd and the node listener require a certificate from the cluster CA and
// that the key survives a restart from the same data directory.
func TestSingleNode(t *testing.T) {
	t.Parallel()
	opts := testOptions(t, "a", "127.0.0.1")
	opts.NodeHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello "+r.TLS.PeerCertificates[0].Subject.CommonName)
	})
	a := openNode(t, opts)
	ctx := t.Context()
	key := a.Prefix() + "greeting"
	if _, err := a.Client().Put(ctx, key, "hello"); err != nil {
		t.Fatalf("Put = %v", err)
	}
	if h := a.Health(); !h.Quorum {
		t.Errorf("Health() = %+v; want quorum", h)
	}
	for _, name := range []string{"ca.key", "node.key"} {
		fi, err := os.Stat(filepath.Join(opts.DataDir, "pki", name))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("stat pki/%s = %v, %v; want mode 0600", name, fi.Mode(), err)
		}
	}

	t.Run("members", func(t *testing.T) {
		ms, err := a.Members(ctx)
		if err != nil || len(ms) != 1 || ms[0].Name != "a" || !ms[0].Healthy || !ms[0].Leader || ms[0].Learner {
			t.Fatalf("Members() = %+v, %v; want one healthy leader a", ms, err)
		}
		if err := a.RemoveMember(ctx, "a"); !errors.Is(err, ErrLastMember) {
			t.Errorf("RemoveMember(a) = %v; want %v", err, ErrLastMember)
		}
		if err := a.RemoveMember(ctx, "nobody"); !errors.Is(err, ErrUnknownMember) {
			t.Errorf("RemoveMember(nobody) = %v; want %v", err, ErrUnknownMember)
		}
	})

	t.Run("etcd refuses a client without certificate", func(t *testing.T) {
		noCert := &tls.Config{RootCAs: certPool(a.pki.ca), MinVersion: tls.VersionTLS12}
		for _, tc := range []struct {
			name   string
			tls    *tls.Config
			wantOK bool
		}{
			{"no client certificate", noCert, false},
			{"node certificate", a.ClientTLS(), true},
		} {
			cli, err := clientv3.New(clientv3.Config{Endpoints: []string{opts.clientURL()}, TLS: tc.tls, Logger: a.zlog})
			if err != nil {
				t.Fatalf("clientv3.New = %v", err)
			}
			gctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err = cli.Get(gctx, key)
			cancel()
			cli.Close()
			if (err == nil) != tc.wantOK {
				t.Errorf("Get with %s = %v; want ok %v", tc.name, err, tc.wantOK)
			}
		}
	})

	t.Run("node listener requires a client certificate", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			tls  *tls.Config
			want int
		}{
			{"no client certificate", &tls.Config{RootCAs: certPool(a.pki.ca)}, http.StatusUnauthorized},
			{"node certificate", a.ClientTLS(), http.StatusOK},
		} {
			status := getStatus(t, tc.tls, "https://"+a.NodeAddr()+"/v1/hello")
			if status != tc.want {
				t.Errorf("GET /v1/hello with %s = %d; want %d", tc.name, status, tc.want)
			}
		}
	})

	a.stop()
	if err := a.Close(); err != nil {
		t.Errorf("second Close() = %v; want nil", err)
	}
	a = openNode(t, opts)
	resp, err := a.Client().Get(ctx, key)
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "hello" {
		t.Fatalf("Get(%q) after reopen = %v, %v; want hello", key, resp, err)
	}
}

// getStatus makes a GET with tlsCfg and returns the status, or 0 when the
// request failed (e.g. the TLS handshake was refused).
func getStatus(t *testing.T, tlsCfg *tls.Config, url string) int {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: tlsCfg}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Logf("GET %s: %v", url, err)
		return 0
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}
