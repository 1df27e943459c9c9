package storage

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/tandem-run/tandem/internal/backup"
	"github.com/tandem-run/tandem/internal/balance"
)

// PublicOptions configure the edge's reads of an app's bucket.
type PublicOptions struct {
	Pair    *Pair
	Store   Endpoint
	Replica *Endpoint // nil: no replica
	// ReplicaFirst reads from the replica first, the store being the
	// backup: the node is in the replica's site and not the store's.
	ReplicaFirst bool
	// Pool is the base of the balancer's options: App, timeouts, tracing,
	// logger. Health and targets are the reader's.
	Pool balance.Options
	// HealthInterval is how often each store is checked; 0 means 2s.
	HealthInterval time.Duration
}

// PublicReader serves an app's bucket to the edge, read-only: it is the
// upstream of a storage route (an http.RoundTripper). Each request is
// checked and rebuilt before it goes to a store (GET or HEAD of one key,
// the client's conditional and range fields and nothing else, signed
// with the store's credentials), and balanced over the store and the
// replica, the replica a backup that serves while the store is down. The
// answer loses the store's own fields (x-amz-*) and gains nosniff and a
// sandbox policy: the objects are the users' uploads, served from the
// site's own origin.
type PublicReader struct {
	pool *balance.Pool
	log  *slog.Logger
	// first is the target read first; its 404 is asked again of fallback
	// when that is the store (a replica may lag behind).
	first, fallback *publicTarget
}

var _ http.RoundTripper = (*PublicReader)(nil)

// publicTarget is one store's bucket as a balancer target.
type publicTarget struct {
	target balance.Target
	base   *url.URL
}

// NewPublicReader builds the reader and its balancer; Run runs the
// balancer's health checks.
func NewPublicReader(o PublicOptions) (*PublicReader, error) {
	if o.HealthInterval == 0 {
		o.HealthInterval = 2 * time.Second
	}
	o.Pool.Health = balance.HealthCheck{Path: "/?max-keys=1", Interval: o.HealthInterval, Timeout: min(o.HealthInterval, time.Second), Rise: 1, Fall: 2}
	pool, err := balance.NewPool(o.Pool)
	if err != nil {
		return nil, fmt.Errorf("public reader of %s: %w", o.Pair.App, err)
	}
	store, err := newPublicTarget("store", o.Store, o.Pair.Store, o.Pool.UpstreamTimeout)
	if err != nil {
		return nil, err
	}
	r := &PublicReader{pool: pool, log: o.Pool.Logger, first: store}
	targets := []*publicTarget{store}
	if o.Replica != nil && o.Pair.Replica != nil {
		replica, err := newPublicTarget("replica", *o.Replica, o.Pair.Replica, o.Pool.UpstreamTimeout)
		if err != nil {
			return nil, err
		}
		replica.target.Priority = 1
		if o.ReplicaFirst {
			store.target.Priority, replica.target.Priority = 1, 0
			r.first, r.fallback = replica, store
		}
		targets = append(targets, replica)
	}
	for _, t := range targets {
		if err := pool.Add(t.target); err != nil {
			return nil, err
		}
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	return r, nil
}

// newPublicTarget is the target of bucket b at endpoint e: its URL (the
// bucket in the path, or in the host name), a transport that signs.
func newPublicTarget(id string, e Endpoint, b *backup.S3Bucket, timeout time.Duration) (*publicTarget, error) {
	u, err := url.Parse(e.URL)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.Field, err)
	}
	if e.PathStyle {
		u.Path = "/" + b.Bucket()
	} else {
		u.Host = b.Bucket() + "." + u.Host
		u.Path = ""
	}
	tr, err := storeTransport(e, timeout)
	if err != nil {
		return nil, err
	}
	return &publicTarget{
		target: balance.Target{ID: id, URL: u, Host: u.Host, Transport: signing{next: tr, sign: b.Sign}},
		base:   u,
	}, nil
}

// storeTransport is the HTTP transport of a store's reads: kept-alive
// connections, the store's CA, no compression (the client's
// Accept-Encoding is not passed on anyway).
func storeTransport(e Endpoint, timeout time.Duration) (*http.Transport, error) {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: max(timeout, 0),
		DisableCompression:    true,
	}
	if e.CAFile != "" {
		pem, err := os.ReadFile(e.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s.ca: %w", e.Field, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s.ca: no PEM certificate in %s", e.Field, e.CAFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return tr, nil
}

// signing is a RoundTripper that signs each request for the store before
// sending it, on a copy of its header.
type signing struct {
	next http.RoundTripper
	sign func(*http.Request) error
}

func (s signing) RoundTrip(req *http.Request) (*http.Response, error) {
	out := *req
	out.Header = req.Header.Clone()
	if out.Header == nil {
		out.Header = make(http.Header)
	}
	if err := s.sign(&out); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	return s.next.RoundTrip(&out)
}

// Run runs the health checks of the stores until ctx ends.
func (r *PublicReader) Run(ctx context.Context) error { return r.pool.Run(ctx) }

// Pool is the reader's balancer, for status and metrics.
func (r *PublicReader) Pool() *balance.Pool { return r.pool }

// passedFields are the request fields a read of a public object sends to
// the store: conditions and ranges, so that revalidation and partial
// content work. Nothing else of the client's reaches the store, and the
// signature covers only these.
var passedFields = []string{"Range", "If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since", "If-Range", "Traceparent", "Tracestate"}

// RoundTrip reads the object the request's path names (the path after
// the route's prefix is the key).
func (r *PublicReader) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		defer req.Body.Close() // nothing of it is sent
	}
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		return answer(req, http.StatusMethodNotAllowed, "GET, HEAD"), nil
	}
	key, ok := objectKey(req.URL.Path)
	if !ok {
		return answer(req, http.StatusNotFound, ""), nil
	}
	out := req.Clone(req.Context())
	out.Body, out.ContentLength, out.GetBody = nil, 0, nil
	out.URL = &url.URL{Scheme: "http", Host: req.URL.Host, Path: "/" + key, RawPath: "/" + escapeKey(key)}
	out.Header = make(http.Header, 4)
	for _, f := range passedFields {
		if v := req.Header.Values(f); len(v) > 0 {
			out.Header[f] = v
		}
	}
	resp, err := r.pool.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusNotFound && r.fallback != nil && resp.Request != nil && resp.Request.URL.Host == r.first.base.Host {
		// The replica read first may not have the object yet: ask the
		// store, if it answers.
		if again, err := r.fallback.read(out); err == nil {
			resp.Body.Close()
			resp = again
		}
	}
	return r.public(req, resp), nil
}

// read sends out to this target alone, outside the balancer.
func (t *publicTarget) read(out *http.Request) (*http.Response, error) {
	o := *out
	u := *out.URL
	u.Scheme, u.Host = t.base.Scheme, t.base.Host
	u.Path, u.RawPath = t.base.Path+u.Path, strings.TrimSuffix(t.base.EscapedPath(), "/")+u.RawPath
	o.URL, o.Host = &u, t.base.Host
	return t.target.Transport.RoundTrip(&o)
}

// public makes the store's answer the edge's: the store's own fields go,
// an error's body (the store's XML, with its request ids) is replaced.
func (r *PublicReader) public(req *http.Request, resp *http.Response) *http.Response {
	h := resp.Header
	for k := range h {
		if strings.HasPrefix(k, "X-Amz-") || k == "Server" {
			delete(h, k)
		}
	}
	if resp.StatusCode >= 400 && resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		status := resp.StatusCode
		if status == http.StatusForbidden {
			// The object's store refused tandem's own signature: a
			// configuration problem, not the client's.
			r.log.Warn("store refused a read", "url", resp.Request.URL.Redacted(), "status", status)
			status = http.StatusBadGateway
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		return answer(req, status, "")
	}
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'")
	return resp
}

// answer is a short plain-text response of the reader's own.
func answer(req *http.Request, status int, allow string) *http.Response {
	body := http.StatusText(status) + "\n"
	resp := &http.Response{
		Status: fmt.Sprintf("%d %s", status, http.StatusText(status)), StatusCode: status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"text/plain; charset=utf-8"}, "X-Content-Type-Options": {"nosniff"}},
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)),
		Request:       req,
	}
	if allow != "" {
		resp.Header.Set("Allow", allow)
	}
	if req.Method == http.MethodHead {
		resp.Body = http.NoBody
	}
	return resp
}

// objectKey returns the key a path names: what follows its first "/",
// when it is a key the reader serves: not empty, at most 1024 bytes, no
// empty, "." or ".." segment (a store may resolve those to another
// bucket's objects), no NUL, not ending in "/".
func objectKey(path string) (string, bool) {
	key, ok := strings.CutPrefix(path, "/")
	if !ok || key == "" || len(key) > 1024 || strings.ContainsRune(key, 0) {
		return "", false
	}
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", false
		}
	}
	return key, true
}

// escapeKey escapes a key as S3 does in a path: every byte but the
// unreserved characters (RFC 3986) and "/", so that the signature's
// canonical path is what the store computes.
func escapeKey(key string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(key) + len(key)/4)
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || c == '/' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
