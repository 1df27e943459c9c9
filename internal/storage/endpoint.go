package storage

import (
	"errors"
	"fmt"
	"time"

	"github.com/tandem-run/tandem/internal/backup"
)

// Endpoint is an S3-compatible service the apps' buckets live in: the
// store, or the replica.
type Endpoint struct {
	// Field is the endpoint's section in the stack file, which messages
	// name: "storage.store.s3", "storage.replica.s3".
	Field string
	// URL is the service's root, http(s)://host[:port].
	URL       string
	Region    string // "us-east-1" when empty
	PathStyle bool
	CAFile    string // PEM bundle trusted for URL's certificate; "" for the system's roots
	AccessKey string
	SecretKey string
	// Site is the site the endpoint is in; "" for none.
	Site string
}

// bucket makes the client of one of the endpoint's buckets.
func (e Endpoint) bucket(name string) (*backup.S3Bucket, error) {
	b, err := backup.NewS3Bucket(backup.S3Options{Endpoint: e.URL, Bucket: name, Region: e.Region, PathStyle: e.PathStyle,
		CAFile: e.CAFile, AccessKey: e.AccessKey, SecretKey: e.SecretKey, DialTimeout: 3 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.Field, err)
	}
	return b, nil
}

// EndpointError is a failure of a store that the stack file's section
// Field describes, worded for the operator: refused credentials name the
// fields to check.
type EndpointError struct {
	Field  string // "storage.store.s3"
	URL    string
	Bucket string
	Err    error // wraps backup.ErrAccessDenied, backup.ErrUnreachable...
}

func (e *EndpointError) Error() string {
	switch {
	case errors.Is(e.Err, backup.ErrAccessDenied):
		return fmt.Sprintf("%s.access_key, %s.secret_key: the store refused them for bucket %s: %v", e.Field, e.Field, e.Bucket, e.Err)
	case errors.Is(e.Err, backup.ErrUnreachable):
		return fmt.Sprintf("%s: the store at %s cannot be reached: %v", e.Field, e.URL, e.Err)
	}
	return fmt.Sprintf("%s: bucket %s: %v", e.Field, e.Bucket, e.Err)
}

func (e *EndpointError) Unwrap() error { return e.Err }
