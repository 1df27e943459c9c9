package pgha

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tandem-run/tandem/internal/pgtest"
)

// testCA is a certificate authority for one test, as the cluster's CA is
// for a cluster.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test cluster CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a PEM certificate and key for cn, valid for 127.0.0.1.
func (ca *testCA) issue(t testing.TB, cn string, usage x509.ExtKeyUsage) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

// TestEndpointServerTLS relays to a server that accepts only TLS with a
// client certificate from the cluster's CA, as members' servers do.
func TestEndpointServerTLS(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	srvCert, srvKey := ca.issue(t, "127.0.0.1", x509.ExtKeyUsageServerAuth)
	pg := pgtest.Start(t, pgtest.Config{
		HBA:    "local all all trust\nhostssl all all 127.0.0.1/32 scram-sha-256 clientcert=verify-full\n",
		Files:  map[string][]byte{"server.crt": srvCert, "server.key": srvKey, "ca.crt": ca.pem},
		Params: []string{"ssl=on", "ssl_cert_file=server.crt", "ssl_key_file=server.key", "ssl_ca_file=ca.crt"},
	})
	cliCert, cliKey := ca.issue(t, "postgres", x509.ExtKeyUsageClientAuth)
	pair, err := tls.X509KeyPair(cliCert, cliKey)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	e := runEndpoint(t, EndpointOptions{ServerTLS: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}})
	e.SetTarget(pg.Addr)

	conn := mustConnect(t, endpointURL(e))
	var ssl bool
	var dn string
	if err := conn.QueryRow(t.Context(), "SELECT ssl, client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl, &dn); err != nil {
		t.Fatal(err)
	}
	if !ssl || dn != "/CN=postgres" {
		t.Errorf("server sees ssl=%v client_dn=%q; want TLS with the client certificate /CN=postgres", ssl, dn)
	}
	// Cancel requests go over TLS too.
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if _, err := conn.Exec(ctx, "SELECT pg_sleep(60)"); pgCode(err) != "57014" {
		t.Errorf("cancelled pg_sleep over TLS: %v; want SQLSTATE 57014", err)
	}

	// libpq (psql) too: it refuses a server that offers channel binding
	// over its plain connection, so the endpoint takes SCRAM-SHA-256-PLUS
	// out of the offer.
	if psql, err := exec.LookPath("psql"); err == nil {
		cmd := exec.CommandContext(t.Context(), psql, endpointURL(e), "-Atc", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
		if out, err := cmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "t" {
			t.Errorf("psql through the endpoint: %v: %s; want t (TLS to the server)", err, out)
		}
	} else if os.Getenv("TANDEM_REQUIRE_POSTGRES") != "" {
		t.Errorf("psql not found: %v", err)
	}

	// The server refuses the clear: the endpoint above did speak TLS.
	_, err = connect(t, t.Context(), DatabaseURL(pg.Addr, "postgres", pgtest.Password, "postgres"))
	if code := pgCode(err); code != "28000" {
		t.Errorf("plain connection to the TLS-only server: %v; want SQLSTATE 28000 (no pg_hba.conf entry)", err)
	}

	// An endpoint that wants TLS never falls back to plain TCP.
	plain := pgtest.Start(t, pgtest.Config{})
	e.SetTarget(plain.Addr)
	_, err = connect(t, t.Context(), endpointURL(e))
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "57P03" || !strings.Contains(pe.Detail, ErrServerRefusedTLS.Error()) {
		t.Errorf("endpoint with TLS to a server without: %v; want 57P03 saying the server refused TLS", err)
	}
}
