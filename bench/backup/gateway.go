package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// gateway is versitygw (pinned in go.mod as a Go tool) serving a posix
// directory on loopback over TLS, with one bucket both systems use under
// prefixes of their own. pgBackRest speaks S3 over TLS only, so tandem
// gets the same TLS.
type gateway struct {
	addr   string // 127.0.0.1:port
	caFile string // the CA that signed the gateway's certificate, readable by the postgres user
	bucket string
	proc   *proc
}

const (
	gwAccessKey = "tandembench"
	gwSecretKey = "tandembench-secret-0123456789"
)

// startGateway starts versitygw in dir and makes its bucket. moduleDir is
// where `go tool versitygw` resolves (the repository root).
func startGateway(ctx context.Context, dir, moduleDir string) (*gateway, error) {
	bin, err := versitygwPath(ctx, moduleDir)
	if err != nil {
		return nil, err
	}
	g := &gateway{bucket: "bench", caFile: filepath.Join(dir, "ca.pem")}
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := writeCertificates(g.caFile, certFile, keyFile); err != nil {
		return nil, fmt.Errorf("versitygw certificate: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	g.addr = l.Addr().String()
	l.Close()
	for _, d := range []string{"root", "meta"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	g.proc, err = startProc(procSpec{name: "versitygw", log: filepath.Join(dir, "versitygw.log"),
		env:  []string{"ROOT_ACCESS_KEY=" + gwAccessKey, "ROOT_SECRET_KEY=" + gwSecretKey},
		argv: []string{bin, "--port", g.addr, "--cert", certFile, "--key", keyFile, "posix", "--sidecar", filepath.Join(dir, "meta"), filepath.Join(dir, "root")}})
	if err != nil {
		return nil, err
	}
	if err := g.waitUp(ctx); err != nil {
		g.stop()
		return nil, err
	}
	return g, nil
}

// versitygwPath builds versitygw, the version go.mod pins, or finds it in
// the build cache.
func versitygwPath(ctx context.Context, moduleDir string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "tool", "-n", "versitygw")
	cmd.Dir = moduleDir
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go tool -n versitygw in %s: %w", moduleDir, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// waitUp waits until the gateway accepts connections, then makes the bucket.
func (g *gateway) waitUp(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		c, err := net.DialTimeout("tcp", g.addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if g.proc.Exited() {
			return fmt.Errorf("versitygw exited at start: %s", g.proc.logTail())
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return fmt.Errorf("versitygw not listening on %s within 30s", g.addr)
		}
	}
	client, err := g.client()
	if err != nil {
		return err
	}
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(g.bucket)}); err != nil {
		return fmt.Errorf("versitygw: create bucket: %w", err)
	}
	return nil
}

func (g *gateway) client() (*s3.Client, error) {
	pool, err := certPool(g.caFile)
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return s3.New(s3.Options{Region: "us-east-1", UsePathStyle: true, BaseEndpoint: aws.String("https://" + g.addr),
		HTTPClient: hc, Credentials: credentials.NewStaticCredentialsProvider(gwAccessKey, gwSecretKey, "")}), nil
}

func (g *gateway) stop() error {
	if g == nil || g.proc == nil {
		return nil
	}
	return g.proc.stop(syscall.SIGTERM, 10*time.Second)
}

func certPool(caFile string) (*x509.CertPool, error) {
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: no certificate", caFile)
	}
	return pool, nil
}

// writeCertificates makes a CA and a certificate it signs for 127.0.0.1
// and localhost, valid for a day.
func writeCertificates(caFile, certFile, keyFile string) error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "tandem bench CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost", "127.0.0.1"}, // pgBackRest matches names only
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
}
