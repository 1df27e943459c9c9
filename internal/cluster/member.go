package cluster

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// etcdDir is where the embedded member keeps its data.
func (o *Options) etcdDir() string { return filepath.Join(o.DataDir, "etcd") }

// pkiDir is where the certificates live.
func (o *Options) pkiDir() string { return filepath.Join(o.DataDir, "pki") }

// memberExists reports whether the data directory holds an etcd member
// already, in which case etcd restarts from it and ignores the initial
// cluster settings.
func memberExists(etcdDir string) (bool, error) {
	_, err := os.Stat(filepath.Join(etcdDir, "member", "wal"))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look for etcd member: %w", err)
	}
	return true, nil
}

// embedConfig is etcd's configuration for this node. state is "new" or
// "existing"; initialCluster lists name=peerURL pairs.
func (c *Cluster) embedConfig(state, initialCluster string, lg *zap.Logger) (*embed.Config, error) {
	o := &c.opts
	cfg := embed.NewConfig()
	cfg.Name = o.Node
	cfg.Dir = o.etcdDir()
	bind := o.bindHost()
	var err error
	cfg.ListenPeerUrls, err = parseURLs("https://" + net.JoinHostPort(bind, strconv.Itoa(o.PeerPort)))
	if err != nil {
		return nil, err
	}
	cfg.ListenClientUrls, err = parseURLs("https://" + net.JoinHostPort(bind, strconv.Itoa(o.ClientPort)))
	if err != nil {
		return nil, err
	}
	if cfg.AdvertisePeerUrls, err = parseURLs(o.peerURL()); err != nil {
		return nil, err
	}
	if cfg.AdvertiseClientUrls, err = parseURLs(o.clientURL()); err != nil {
		return nil, err
	}
	cfg.ClusterState = state
	cfg.InitialCluster = initialCluster
	cfg.InitialClusterToken = o.Name
	ti := transport.TLSInfo{
		CertFile:       filepath.Join(o.pkiDir(), nodeCertFile),
		KeyFile:        filepath.Join(o.pkiDir(), nodeKeyFile),
		TrustedCAFile:  filepath.Join(o.pkiDir(), caCertFile),
		ClientCertAuth: true,
	}
	cfg.ClientTLSInfo = ti
	// Peers are authenticated by the cluster CA, which signs member
	// certificates only; the address a peer connects from (NAT, several
	// interfaces) need not be one its certificate names.
	ti.SkipClientSANVerify = true
	cfg.PeerTLSInfo = ti
	cfg.TickMs = uint(o.TickMs)
	cfg.ElectionMs = uint(o.ElectionMs)
	cfg.AutoCompactionMode = embed.CompactorModePeriodic
	cfg.AutoCompactionRetention = o.CompactionRetention.String()
	cfg.QuotaBackendBytes = o.QuotaBackendBytes
	cfg.EnableGRPCGateway = false // the client port speaks gRPC only
	cfg.GRPCAdditionalServerOptions = []grpc.ServerOption{grpc.ChainUnaryInterceptor(c.recoverStatus)}
	cfg.Logger = "zap"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(lg)
	return cfg, nil
}

// statusMethod is etcd's Maintenance/Status RPC.
const statusMethod = "/etcdserverpb.Maintenance/Status"

// recoverStatus turns a panic in etcd's Status handler into an error. etcd
// panics there ("failed to find local ID in cluster members", an upstream
// bug) when a status request races with the removal of the member serving
// it; the removed member should stop, not take the whole node down. The
// panic unwinds through deferred unlocks, so the server stays consistent.
func (c *Cluster) recoverStatus(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	if info.FullMethod != statusMethod {
		return handler(ctx, req)
	}
	defer func() {
		if p := recover(); p != nil {
			c.log.Warn("etcd status request failed: member being removed", "panic", fmt.Sprint(p))
			resp, err = nil, status.Error(codes.Unavailable, "member is being removed")
		}
	}()
	return handler(ctx, req)
}

func parseURLs(s string) ([]url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("etcd url %q: %w", s, err)
	}
	return []url.URL{*u}, nil
}

// openEmbedded starts this node's member: from its data directory if it
// has one, else by joining with Options.Join, else as a new cluster.
func (c *Cluster) openEmbedded(ctx context.Context) error {
	exists, err := memberExists(c.opts.etcdDir())
	switch {
	case err != nil:
		return err
	case exists:
		if c.opts.Join != "" {
			c.log.Info("join token ignored: the data directory holds a member already", "data_dir", c.opts.DataDir)
		}
		p, err := loadPKI(c.opts.pkiDir())
		if err != nil {
			return err
		}
		c.pki = p
	case c.opts.Join != "":
		return c.join(ctx)
	default:
		if err := c.createPKI(); err != nil {
			return err
		}
		c.log.Info("creating cluster", "cluster", c.opts.Name, "node", c.opts.Node, "data_dir", c.opts.DataDir)
	}
	cfg, err := c.restartConfig()
	if err != nil {
		return err
	}
	if c.member, err = startMember(ctx, cfg, c.restartConfig); err != nil {
		return err
	}
	c.client, err = c.newClient([]string{c.opts.clientURL()}, c.pki.clientTLS())
	return err
}

// restartConfig is etcd's configuration for a member whose data directory
// exists or is to be created as a new one-member cluster. A restarting
// member takes its cluster from its data and ignores the initial cluster,
// which then only needs to be valid.
func (c *Cluster) restartConfig() (*embed.Config, error) {
	return c.embedConfig(embed.ClusterStateFlagNew, c.opts.Node+"="+c.opts.peerURL(), c.zlog)
}

// createPKI creates the cluster CA and this node's certificate.
func (c *Cluster) createPKI() error {
	ca, caKey, err := newCA(c.opts.Name, c.now())
	if err != nil {
		return err
	}
	return c.issuePKI(ca, caKey)
}

// issuePKI issues this node's certificate from the CA and stores both in
// DataDir/pki.
func (c *Cluster) issuePKI(ca *x509.Certificate, caKey *ecdsa.PrivateKey) error {
	p, err := newPKI(ca, caKey, c.opts.Node, c.opts.Advertise, c.now())
	if err != nil {
		return err
	}
	if err := p.write(c.opts.pkiDir()); err != nil {
		return err
	}
	c.pki = p
	return nil
}
