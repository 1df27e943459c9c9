package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// caRecord is the cluster CA as kept in an external etcd, under
// <prefix>pki/ca, so that every node can issue its own certificate.
type caRecord struct {
	Cert string `json:"cert"` // PEM
	Key  string `json:"key"`  // PEM
}

// openExternal connects to the external etcd and takes the cluster CA from
// it, creating the CA if this is the first node.
func (c *Cluster) openExternal(ctx context.Context) error {
	tlsCfg, err := c.opts.External.tlsConfig()
	if err != nil {
		return fmt.Errorf("external etcd: %w", err)
	}
	if c.client, err = c.newClient(c.opts.External.Endpoints, tlsCfg); err != nil {
		return fmt.Errorf("external etcd: %w", err)
	}
	if err := c.waitQuorum(ctx); err != nil {
		return fmt.Errorf("external etcd %s: %w", strings.Join(c.opts.External.Endpoints, ","), err)
	}
	rec, err := c.sharedCA(ctx)
	if err != nil {
		return err
	}
	ca, err := parseCertPEM([]byte(rec.Cert))
	if err != nil {
		return fmt.Errorf("cluster ca in etcd: %w", err)
	}
	caKey, err := parseKeyPEM([]byte(rec.Key))
	if err != nil {
		return fmt.Errorf("cluster ca key in etcd: %w", err)
	}
	return c.issuePKI(ca, caKey)
}

// sharedCA reads the cluster CA from etcd, or stores a new one if there is
// none; of nodes starting together, the first transaction wins and the
// others read its CA.
func (c *Cluster) sharedCA(ctx context.Context) (*caRecord, error) {
	ca, caKey, err := newCA(c.opts.Name, c.now())
	if err != nil {
		return nil, err
	}
	keyPEM, err := encodeKey(caKey)
	if err != nil {
		return nil, err
	}
	mine, err := json.Marshal(caRecord{Cert: string(pemBlock("CERTIFICATE", ca.Raw)), Key: string(keyPEM)})
	if err != nil {
		return nil, fmt.Errorf("store cluster ca: %w", err)
	}
	key := c.prefix + "pki/ca"
	tr, err := c.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(clientv3.OpPut(key, string(mine))).
		Else(clientv3.OpGet(key)).
		Commit()
	if err != nil {
		return nil, fmt.Errorf("store cluster ca: %w", err)
	}
	data := mine
	if !tr.Succeeded {
		kvs := tr.Responses[0].GetResponseRange().GetKvs()
		if len(kvs) == 0 {
			return nil, errors.New("read cluster ca: deleted while reading")
		}
		data = kvs[0].Value
	} else {
		c.log.Info("cluster CA created in the external etcd", "cluster", c.opts.Name, "key", key)
	}
	var rec caRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("read cluster ca: %w", err)
	}
	return &rec, nil
}

// tlsConfig is the client TLS for the external etcd; nil when every
// endpoint is plain http and no files are given.
func (e *External) tlsConfig() (*tls.Config, error) {
	plain := true
	for _, ep := range e.Endpoints {
		plain = plain && strings.HasPrefix(ep, "http://")
	}
	if plain && e.CAFile == "" && e.CertFile == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if e.CAFile != "" {
		data, err := os.ReadFile(e.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("ca_file: %s holds no PEM certificate", e.CAFile)
		}
	}
	if e.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(e.CertFile, e.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("cert_file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
