package cluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/tandem-run/tandem/internal/atomicfile"
)

// certValidity is how long the cluster CA and node certificates are valid.
// Nothing rotates them yet, so they outlive any realistic machine.
const certValidity = 10 * 365 * 24 * time.Hour

// clockSkew backdates certificates so that a node whose clock is a little
// behind accepts them at once.
const clockSkew = time.Hour

// Names of the files in DataDir/pki.
const (
	caCertFile   = "ca.crt"
	caKeyFile    = "ca.key"
	nodeCertFile = "node.crt"
	nodeKeyFile  = "node.key"
)

// pki is the cluster CA and this node's certificate signed by it. The node
// certificate serves etcd's peer and client ports and the node listener,
// and authenticates this node as a client to all three.
type pki struct {
	ca      *x509.Certificate
	caPEM   []byte
	caKey   *ecdsa.PrivateKey
	cert    tls.Certificate // leaf and CA, so that joiners see the CA they pinned
	certPEM []byte
	keyPEM  []byte
}

// newCA creates a self-signed cluster CA (ECDSA P-256).
func newCA(cluster string, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("create ca key: %w", err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "tandem cluster " + cluster + " CA"},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create ca certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("create ca certificate: %w", err)
	}
	return ca, key, nil
}

// newPKI creates a node key and certificate signed by ca.
func newPKI(ca *x509.Certificate, caKey *ecdsa.PrivateKey, node, advertise string, now time.Time) (*pki, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("create node key: %w", err)
	}
	der, err := issueNodeCert(ca, caKey, &key.PublicKey, node, advertise, now)
	if err != nil {
		return nil, err
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return nil, err
	}
	caKeyPEM, err := encodeKey(caKey)
	if err != nil {
		return nil, err
	}
	return assemblePKI(pemBlock("CERTIFICATE", ca.Raw), caKeyPEM, pemBlock("CERTIFICATE", der), keyPEM)
}

// issueNodeCert signs a certificate for node's public key pub, valid for
// both TLS server and client use, naming the advertised address, the
// loopback address and the node name.
func issueNodeCert(ca *x509.Certificate, caKey *ecdsa.PrivateKey, pub any, node, advertise string, now time.Time) ([]byte, error) {
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: node},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     ca.NotAfter, // a certificate cannot outlive its CA
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{node},
	}
	if end := now.Add(certValidity); end.Before(tmpl.NotAfter) {
		tmpl.NotAfter = end
	}
	if ip := net.ParseIP(advertise); ip != nil {
		if !ip.Equal(tmpl.IPAddresses[0]) {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		}
	} else if advertise != node {
		tmpl.DNSNames = append(tmpl.DNSNames, advertise)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, pub, caKey)
	if err != nil {
		return nil, fmt.Errorf("issue certificate for %s: %w", node, err)
	}
	return der, nil
}

// signCSR issues a node certificate for the key in a certificate signing
// request. The names come from the join request, not from the CSR, so a
// joiner cannot ask for names it was not admitted under.
func (p *pki) signCSR(csrDER []byte, node, advertise string, now time.Time) ([]byte, error) {
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil {
		return nil, fmt.Errorf("parse certificate request: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("check certificate request: %w", err)
	}
	return issueNodeCert(p.ca, p.caKey, csr.PublicKey, node, advertise, now)
}

// assemblePKI parses and cross-checks PEM material: the node certificate
// must match its key and chain to the CA, and the CA key must match the CA.
func assemblePKI(caPEM, caKeyPEM, certPEM, keyPEM []byte) (*pki, error) {
	ca, err := parseCertPEM(caPEM)
	if err != nil {
		return nil, fmt.Errorf("ca certificate: %w", err)
	}
	caKey, err := parseKeyPEM(caKeyPEM)
	if err != nil {
		return nil, fmt.Errorf("ca key: %w", err)
	}
	if !caKey.PublicKey.Equal(ca.PublicKey) {
		return nil, errors.New("ca key does not match the ca certificate")
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("node certificate: %w", err)
	}
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{
		Roots:     certPool(ca),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}); err != nil {
		return nil, fmt.Errorf("node certificate: %w", err)
	}
	cert.Certificate = append(cert.Certificate, ca.Raw)
	return &pki{ca: ca, caPEM: caPEM, caKey: caKey, cert: cert, certPEM: certPEM, keyPEM: keyPEM}, nil
}

// loadPKI reads the files write wrote.
func loadPKI(dir string) (*pki, error) {
	var data [4][]byte
	for i, name := range []string{caCertFile, caKeyFile, nodeCertFile, nodeKeyFile} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("load pki: %w", err)
		}
		data[i] = b
	}
	p, err := assemblePKI(data[0], data[1], data[2], data[3])
	if err != nil {
		return nil, fmt.Errorf("load pki from %s: %w", dir, err)
	}
	return p, nil
}

// write stores the PKI in dir, each file atomically; keys are readable by
// the owner only. The node certificate is written last: a directory with
// a node certificate is complete.
func (p *pki) write(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write pki: %w", err)
	}
	caKeyPEM, err := encodeKey(p.caKey)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
		perm os.FileMode
	}{
		{caKeyFile, caKeyPEM, 0o600},
		{caCertFile, p.caPEM, 0o644},
		{nodeKeyFile, p.keyPEM, 0o600},
		{nodeCertFile, p.certPEM, 0o644},
	} {
		if err := atomicfile.Write(filepath.Join(dir, f.name), f.data, f.perm); err != nil {
			return fmt.Errorf("write pki: %w", err)
		}
	}
	return nil
}

// caHash is the SHA-256 of the CA certificate, pinned by join tokens.
func (p *pki) caHash() [32]byte { return sha256.Sum256(p.ca.Raw) }

// serverTLS serves the node listener: any client may connect (joiners have
// no certificate yet), and a certificate a client presents must come from
// the cluster CA.
func (p *pki) serverTLS() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{p.cert},
		ClientCAs:    certPool(p.ca),
		ClientAuth:   tls.VerifyClientCertIfGiven,
		MinVersion:   tls.VersionTLS13,
	}
}

// clientTLS authenticates this node to etcd and other nodes and trusts only
// the cluster CA.
func (p *pki) clientTLS() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{p.cert},
		RootCAs:      certPool(p.ca),
		MinVersion:   tls.VersionTLS12, // etcd's default minimum
	}
}

func certPool(certs ...*x509.Certificate) *x509.CertPool {
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool
}

func randomSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("certificate serial: %w", err)
	}
	return serial, nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode key: %w", err)
	}
	return pemBlock("PRIVATE KEY", der), nil
}

func parseCertPEM(data []byte) (*x509.Certificate, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate")
	}
	return x509.ParseCertificate(b.Bytes)
}

func parseKeyPEM(data []byte) (*ecdsa.PrivateKey, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "PRIVATE KEY" {
		return nil, errors.New("no PEM private key")
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, err
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("private key is %T; want ECDSA", k)
	}
	return ek, nil
}
