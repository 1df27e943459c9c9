package backup

import (
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/backup/s3test"
)

// The tests' S3-compatible store: a real versitygw (see s3test).

// gateway is a running versitygw and the stores on it.
type gateway struct {
	*s3test.Gateway
	t testing.TB
}

// startGateway starts versitygw on a free loopback port with one bucket.
func startGateway(t testing.TB) *gateway {
	t.Helper()
	return &gateway{Gateway: s3test.Start(t), t: t}
}

// Options returns S3Options for the gateway's bucket under prefix.
func (g *gateway) Options(prefix string) S3Options {
	return S3Options{Endpoint: g.Endpoint(), Bucket: g.Bucket, Prefix: prefix, PathStyle: true,
		AccessKey: s3test.AccessKey, SecretKey: s3test.SecretKey, DialTimeout: time.Second}
}

// Store returns an S3Store on the gateway under prefix.
func (g *gateway) Store(prefix string) *S3Store {
	g.t.Helper()
	s, err := NewS3Store(g.Options(prefix))
	if err != nil {
		g.t.Fatal(err)
	}
	return s
}
