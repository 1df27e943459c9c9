package edge

import (
	"crypto/x509"
	"encoding/pem"
	"net/http/httptest"
	"os"
	"testing"
)

// writePEM saves the certificate and key of a TLS test server as PEM files.
func writePEM(t *testing.T, certFile, keyFile string, srv *httptest.Server) {
	t.Helper()
	cert := srv.TLS.Certificates[0]
	var certPEM []byte
	for _, der := range cert.Certificate {
		certPEM = append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}), 0o600); err != nil {
		t.Fatal(err)
	}
}
