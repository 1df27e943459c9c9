package admin

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestTokenAPI(t *testing.T) {
	ts := startAuthServer(t, Options{Deploys: fakeDeployer{}})
	ctx := t.Context()
	root := ts.client(ts.root)
	issued, err := root.CreateToken(ctx, TokenRequest{Name: "ci", Scopes: []Scope{ScopeDeploy}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	rootID, _, _ := ParseToken(ts.root)
	if issued.Hash != "" || !strings.HasPrefix(issued.Value, TokenPrefix+issued.ID+"_") || issued.CreatedBy != "root ("+rootID+")" {
		t.Errorf("CreateToken = %+v; want the token string, no hash, created by root (%s)", issued, rootID)
	}
	if d := time.Until(issued.Expires); d < 59*time.Minute || d > time.Hour {
		t.Errorf("expires in %s; want 1h", d)
	}
	if _, err := root.CreateToken(ctx, TokenRequest{Name: "x", Scopes: []Scope{"everything"}}); !errors.Is(err, ErrBadRequest) {
		t.Errorf("CreateToken(unknown scope) = %v; want ErrBadRequest", err)
	}

	ci := ts.client(issued.Value)
	if _, err := ci.Deploy(ctx, "web", DeployRequest{Who: "ci"}, nil); err != nil {
		t.Errorf("Deploy with the new deploy token = %v", err)
	}
	list, err := root.Tokens(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("Tokens = %+v, %v; want root and ci", list, err)
	}
	for _, tok := range list {
		if tok.Hash != "" {
			t.Errorf("Tokens lists %s with its hash", tok.Name)
		}
		if tok.LastUsed.IsZero() {
			t.Errorf("Tokens: %s has no last use; want one (it was used)", tok.Name)
		}
	}

	if err := root.RevokeToken(ctx, issued.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := ci.Deploy(ctx, "web", DeployRequest{}, nil); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("Deploy with a revoked token = %v; want ErrUnauthorized", err)
	}
	if err := root.RevokeToken(ctx, issued.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("RevokeToken twice = %v; want ErrNotFound", err)
	}
}

// TestTLS: with a certificate the API speaks HTTPS only, and a client
// trusting the certificate's CA reaches it.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	ts := startAuthServer(t, Options{TLSCert: certFile, TLSKey: keyFile})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	st, err := NewClientWith("https://"+ts.addr, ClientOptions{Token: ts.root, RootCAs: pool}).Status(ctx)
	if err != nil || st.Node != "n1" {
		t.Errorf("Status over HTTPS = %+v, %v; want node n1", st, err)
	}
	if _, err := NewClientWith("https://"+ts.addr, ClientOptions{Token: ts.root}).Status(ctx); err == nil {
		t.Error("Status over HTTPS without trusting the CA = nil error; want a certificate error")
	}
	if _, err := NewClientWith(ts.addr, ClientOptions{Token: ts.root}).Status(ctx); err == nil {
		t.Error("Status over plain HTTP to the HTTPS listener = nil error; want an error")
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "tandem admin test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true,

		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
