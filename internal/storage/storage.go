package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/tandem-run/tandem/internal/backup"
)

// Bucket is an app's bucket, in the store and in the replica.
type Bucket struct {
	App     string
	Name    string
	Replica string // its name in the replica; ignored without one
	// PublicURL is where the edge serves the bucket's objects (a storage
	// route): a path, or //host/path; "" when no route does.
	PublicURL string
}

// Options configure Storage.
type Options struct {
	Store   Endpoint
	Replica *Endpoint // nil: no replica
	Buckets []Bucket  // one per app
	// EnsureEvery is how often buckets a store did not answer for at
	// Ensure are tried again by Run; 0 means 5s.
	EnsureEvery time.Duration
	Logger      *slog.Logger
}

// Storage is the apps' object storage as this node sees it: a client of
// each app's bucket in the store and in the replica. It creates the
// buckets, tells the apps where they are, and gives the replicator and
// the edge their clients.
type Storage struct {
	opts  Options
	log   *slog.Logger
	pairs []*Pair // in the order of Options.Buckets

	mu      sync.Mutex         // guards pending
	pending []*backup.S3Bucket // buckets not yet ensured: their store did not answer
}

// Pair is an app's bucket in the store and its copy in the replica.
type Pair struct {
	Bucket
	Store   *backup.S3Bucket
	Replica *backup.S3Bucket // nil without a replica
}

// New makes the buckets' clients. It does no I/O.
func New(o Options) (*Storage, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.EnsureEvery == 0 {
		o.EnsureEvery = 5 * time.Second
	}
	s := &Storage{opts: o, log: o.Logger}
	for _, b := range o.Buckets {
		p := &Pair{Bucket: b}
		var err error
		if p.Store, err = o.Store.bucket(b.Name); err != nil {
			return nil, err
		}
		if o.Replica != nil {
			if p.Replica, err = o.Replica.bucket(b.Replica); err != nil {
				return nil, err
			}
		}
		s.pairs = append(s.pairs, p)
	}
	return s, nil
}

// Store is the store the buckets are in.
func (s *Storage) Store() Endpoint { return s.opts.Store }

// Replica is the store they are copied to; nil without one.
func (s *Storage) Replica() *Endpoint { return s.opts.Replica }

// Pairs returns the apps' buckets.
func (s *Storage) Pairs() []*Pair { return s.pairs }

// StoreBucket makes a client of the bucket name in the store, which need
// not be an app's: a backup of a bucket is restored into one.
func (s *Storage) StoreBucket(name string) (*backup.S3Bucket, error) {
	return s.opts.Store.bucket(name)
}

// Pair returns app's bucket; nil if it has none.
func (s *Storage) Pair(app string) *Pair {
	for _, p := range s.pairs {
		if p.App == app {
			return p
		}
	}
	return nil
}

// Ensure creates the buckets that are missing, in the store and in the
// replica. A store that refuses the credentials, or anything else it
// answers but success, is an *EndpointError naming the stack file's
// fields. A store that cannot be reached is no error here: the node
// starts, and Run creates those buckets once it answers.
func (s *Storage) Ensure(ctx context.Context) error {
	var errs []error
	var pending []*backup.S3Bucket
	for _, p := range s.pairs {
		for _, side := range []struct {
			b *backup.S3Bucket
			e *Endpoint
		}{{p.Store, &s.opts.Store}, {p.Replica, s.opts.Replica}} {
			if side.b == nil {
				continue
			}
			err := s.ensure(ctx, side.b, side.e)
			switch {
			case errors.Is(err, backup.ErrUnreachable):
				s.log.Warn("store unreachable: bucket not checked", "err", err)
				pending = append(pending, side.b)
			case err != nil:
				errs = append(errs, err)
			}
		}
	}
	s.mu.Lock()
	s.pending = pending
	s.mu.Unlock()
	return errors.Join(errs...)
}

func (s *Storage) ensure(ctx context.Context, b *backup.S3Bucket, e *Endpoint) error {
	created, err := b.Ensure(ctx)
	if err != nil {
		return &EndpointError{Field: e.Field, URL: e.URL, Bucket: b.Bucket(), Err: err}
	}
	if created {
		s.log.Info("bucket created", "bucket", b.String())
	}
	return nil
}

// Run creates the buckets Ensure could not reach, once their stores
// answer, until ctx ends.
func (s *Storage) Run(ctx context.Context) error {
	t := time.NewTicker(s.opts.EnsureEvery)
	defer t.Stop()
	for {
		s.mu.Lock()
		pending := s.pending
		s.mu.Unlock()
		var still []*backup.S3Bucket
		for _, b := range pending {
			if _, err := b.Ensure(ctx); err != nil {
				still = append(still, b)
				if !errors.Is(err, backup.ErrUnreachable) && ctx.Err() == nil {
					s.log.Error("bucket not created", "bucket", b.String(), "err", err)
				}
			}
		}
		s.mu.Lock()
		s.pending = still
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Env is what an app's processes are told of its bucket, in the names S3
// SDKs and tools read: the AWS SDKs take AWS_ENDPOINT_URL_S3, the
// credentials and the region as they are; S3_ENDPOINT, S3_BUCKET,
// S3_REGION and S3_FORCE_PATH_STYLE are for the app's own code;
// AWS_CA_BUNDLE when the store's certificate needs a CA of its own; and
// S3_PUBLIC_URL, where the edge serves the bucket, when a route does.
// nil for an app without a bucket.
func (s *Storage) Env(app string) []string {
	p := s.Pair(app)
	if p == nil {
		return nil
	}
	e := s.opts.Store
	region := e.Region
	if region == "" {
		region = "us-east-1"
	}
	env := []string{
		"AWS_ENDPOINT_URL_S3=" + e.URL,
		"S3_ENDPOINT=" + e.URL,
		"S3_BUCKET=" + p.Name,
		"S3_REGION=" + region,
		"S3_FORCE_PATH_STYLE=" + strconv.FormatBool(e.PathStyle),
		"AWS_ACCESS_KEY_ID=" + e.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + e.SecretKey,
		"AWS_REGION=" + region,
		"AWS_DEFAULT_REGION=" + region,
	}
	if e.CAFile != "" {
		env = append(env, "AWS_CA_BUNDLE="+e.CAFile)
	}
	if p.PublicURL != "" {
		env = append(env, "S3_PUBLIC_URL="+p.PublicURL)
	}
	return env
}

// String names the store and the replica, for logs.
func (s *Storage) String() string {
	if s.opts.Replica == nil {
		return s.opts.Store.URL
	}
	return fmt.Sprintf("%s (replica %s)", s.opts.Store.URL, s.opts.Replica.URL)
}
