package cluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net"
	"slices"
	"testing"
	"time"
)

func testPKI(t *testing.T, node, advertise string) *pki {
	t.Helper()
	now := time.Now()
	ca, caKey, err := newCA("test", now)
	if err != nil {
		t.Fatal(err)
	}
	p, err := newPKI(ca, caKey, node, advertise, now)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNodeCertificate(t *testing.T) {
	tests := []struct {
		advertise string
		wantIPs   []string
		wantDNS   []string
	}{
		{"10.0.0.7", []string{"127.0.0.1", "10.0.0.7"}, []string{"n1"}},
		{"127.0.0.1", []string{"127.0.0.1"}, []string{"n1"}},
		{"n1.example.com", []string{"127.0.0.1"}, []string{"n1", "n1.example.com"}},
	}
	for _, tc := range tests {
		p := testPKI(t, "n1", tc.advertise)
		leaf := p.cert.Leaf
		var ips []string
		for _, ip := range leaf.IPAddresses {
			ips = append(ips, ip.String())
		}
		if !slices.Equal(ips, tc.wantIPs) || !slices.Equal(leaf.DNSNames, tc.wantDNS) {
			t.Errorf("newPKI(advertise %q) SANs = %v %v; want %v %v", tc.advertise, ips, leaf.DNSNames, tc.wantIPs, tc.wantDNS)
		}
		for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
			if _, err := leaf.Verify(x509.VerifyOptions{Roots: certPool(p.ca), KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
				t.Errorf("newPKI(advertise %q): verify for usage %v = %v", tc.advertise, usage, err)
			}
		}
		if leaf.NotAfter.After(p.ca.NotAfter) {
			t.Errorf("node certificate ends %v, after its CA (%v)", leaf.NotAfter, p.ca.NotAfter)
		}
	}
}

func TestPKIWriteLoad(t *testing.T) {
	dir := t.TempDir()
	p := testPKI(t, "n1", "10.0.0.7")
	if err := p.write(dir); err != nil {
		t.Fatalf("write = %v", err)
	}
	got, err := loadPKI(dir)
	if err != nil {
		t.Fatalf("loadPKI = %v", err)
	}
	if got.caHash() != p.caHash() || !got.cert.Leaf.Equal(p.cert.Leaf) || !got.caKey.Equal(p.caKey) {
		t.Errorf("loadPKI returned different material than was written")
	}
	other := testPKI(t, "n1", "10.0.0.7")
	if _, err := assemblePKI(p.caPEM, must(encodeKey(p.caKey)), other.certPEM, other.keyPEM); err == nil {
		t.Errorf("assemblePKI with a certificate from another CA = nil; want an error")
	}
}

func TestSignCSRUsesAdmittedNames(t *testing.T) {
	p := testPKI(t, "inviter", "10.0.0.1")
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: "admin"},
		DNSNames: []string{"bank.example.com"},
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	der, err := p.signCSR(csr, "n2", "10.0.0.2", time.Now())
	if err != nil {
		t.Fatalf("signCSR = %v", err)
	}
	cert, _ := x509.ParseCertificate(der)
	if cert.Subject.CommonName != "n2" || !slices.Equal(cert.DNSNames, []string{"n2"}) || !cert.IPAddresses[1].Equal(net.ParseIP("10.0.0.2")) {
		t.Errorf("signCSR issued %q %v %v; want the admitted names n2, 10.0.0.2", cert.Subject.CommonName, cert.DNSNames, cert.IPAddresses)
	}
	if _, err := p.signCSR([]byte("junk"), "n2", "10.0.0.2", time.Now()); err == nil {
		t.Errorf("signCSR(junk) = nil; want an error")
	}
}

func TestVerifyPinned(t *testing.T) {
	p := testPKI(t, "n1", "10.0.0.1")
	other := testPKI(t, "n1", "10.0.0.1")
	chain := []*x509.Certificate{p.cert.Leaf, p.ca}
	tests := []struct {
		name  string
		certs []*x509.Certificate
		pin   [32]byte
		ok    bool
	}{
		{"pinned CA", chain, p.caHash(), true},
		{"other pin", chain, other.caHash(), false},
		{"leaf only", chain[:1], p.caHash(), false},
		{"leaf pinned instead of CA", chain, sha256.Sum256(p.cert.Leaf.Raw), false},
		{"leaf of another CA with the pinned CA appended", []*x509.Certificate{other.cert.Leaf, p.ca}, p.caHash(), false},
		{"nothing", nil, p.caHash(), false},
	}
	for _, tc := range tests {
		err := verifyPinned(tc.certs, tc.pin)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrCAMismatch)) {
			t.Errorf("%s: verifyPinned = %v; want ok %v", tc.name, err, tc.ok)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
