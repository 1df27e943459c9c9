package backup

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3Options configures an S3Store.
type S3Options struct {
	Endpoint  string // URL, e.g. https://s3.eu-west-1.amazonaws.com or http://127.0.0.1:7070; empty: AWS for Region
	Bucket    string
	Prefix    string // prepended to every key; "shop/" keeps a cluster's objects under shop/
	Region    string // "us-east-1" when empty
	PathStyle bool   // bucket in the path rather than the host name (most self-hosted stores)
	CAFile    string // PEM bundle trusted for the endpoint's certificate; empty: system roots

	AccessKey, SecretKey, SessionToken string

	// PartSize is the size of the parts of a multipart upload, used for
	// objects larger than it; 64 MiB when 0. S3 wants at least 5 MiB.
	PartSize int64
	// DialTimeout bounds connecting to the endpoint, so that a store that
	// is down is reported quickly; 5 s when 0.
	DialTimeout time.Duration
}

// S3Store keeps objects in a bucket of an S3-compatible store. The SHA-256
// of each object is computed before the upload and kept in its metadata
// (x-amz-meta-sha256); Content-MD5 lets the store reject a body damaged on
// the way. PutIfAbsent is a conditional write (If-None-Match: *), which
// AWS S3 and versitygw evaluate atomically.
type S3Store struct {
	client   *s3.Client
	bucket   string
	prefix   string
	partSize int64
	name     string
	pageSize int32 // keys per ListObjectsV2 page; the store's default (1000) when 0
}

var _ Store = (*S3Store)(nil)

const (
	metaSHA256      = "sha256"
	defaultPartSize = 64 << 20
	minPartSize     = 5 << 20
)

// NewS3Store makes a client for the bucket. It does no I/O: a wrong
// endpoint, bucket or credential shows on the first request (see
// Repository.Probe).
func NewS3Store(o S3Options) (*S3Store, error) {
	if o.Bucket == "" {
		return nil, errors.New("s3 store: bucket is required")
	}
	if o.PartSize == 0 {
		o.PartSize = defaultPartSize
	}
	if o.PartSize < minPartSize {
		return nil, fmt.Errorf("s3 store: part size %d is below S3's minimum of 5 MiB", o.PartSize)
	}
	client, err := newS3Client(o)
	if err != nil {
		return nil, err
	}
	name := "s3://" + o.Bucket + "/" + o.Prefix
	if o.Endpoint != "" {
		name = strings.TrimSuffix(o.Endpoint, "/") + "/" + o.Bucket + "/" + o.Prefix
	}
	return &S3Store{client: client, bucket: o.Bucket, prefix: o.Prefix, partSize: o.PartSize, name: name}, nil
}

// newS3Client makes the client of o's endpoint, shared by S3Store and
// S3Bucket. It does no I/O.
func newS3Client(o S3Options) (*s3.Client, error) {
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = 5 * time.Second
	}
	hc, err := s3HTTPClient(o)
	if err != nil {
		return nil, err
	}
	opts := s3.Options{
		Region:       o.Region,
		UsePathStyle: o.PathStyle,
		HTTPClient:   hc,
		// Checksums only where S3 requires them: several S3-compatible
		// stores reject the newer default trailing checksums. Integrity is
		// ours: Content-MD5 on the way in, SHA-256 on every read.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		RetryMaxAttempts:           3,
	}
	if o.AccessKey != "" || o.SecretKey != "" {
		opts.Credentials = credentials.NewStaticCredentialsProvider(o.AccessKey, o.SecretKey, o.SessionToken)
	}
	if o.Endpoint != "" {
		opts.BaseEndpoint = aws.String(o.Endpoint)
	}
	return s3.New(opts), nil
}

func s3HTTPClient(o S3Options) (*awshttp.BuildableClient, error) {
	var pool *x509.CertPool
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("s3 store: ca file: %w", err)
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("s3 store: ca file %s: no PEM certificate in it", o.CAFile)
		}
	}
	return awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = o.DialTimeout }).
		WithTransportOptions(func(tr *http.Transport) {
			if pool != nil {
				tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
			}
		}), nil
}

func (s *S3Store) String() string { return s.name }

// Put uploads the object, replacing any at key.
func (s *S3Store) Put(ctx context.Context, key string, r io.ReadSeeker, size int64) (ObjectInfo, error) {
	return s.put(ctx, key, r, size, false)
}

// PutIfAbsent uploads the object with If-None-Match: *.
func (s *S3Store) PutIfAbsent(ctx context.Context, key string, r io.ReadSeeker, size int64) (ObjectInfo, error) {
	return s.put(ctx, key, r, size, true)
}

func (s *S3Store) put(ctx context.Context, key string, r io.ReadSeeker, size int64, exclusive bool) (ObjectInfo, error) {
	if err := validKey(key); err != nil {
		return ObjectInfo{}, fmt.Errorf("put %s: %w", key, err)
	}
	sum, err := hashSeeker(r, size)
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("put %s: read body: %w", key, err)
	}
	var ifNoneMatch *string
	if exclusive {
		ifNoneMatch = aws.String("*")
	}
	meta := map[string]string{metaSHA256: sum}
	if size > s.partSize {
		err = s.putMultipart(ctx, key, r, size, meta, ifNoneMatch)
	} else {
		err = s.putSingle(ctx, key, r, size, meta, ifNoneMatch)
	}
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("put %s in %s: %w", key, s.name, err)
	}
	return ObjectInfo{Key: key, Size: size, SHA256: sum, Modified: time.Now()}, nil
}

func (s *S3Store) putSingle(ctx context.Context, key string, r io.ReadSeeker, size int64, meta map[string]string, ifNoneMatch *string) error {
	body, md5sum, err := section(r, 0, size)
	if err != nil {
		return err
	}
	_, err = s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &s.bucket, Key: aws.String(s.prefix + key), Body: body, ContentLength: aws.Int64(size),
		ContentMD5: aws.String(md5sum), Metadata: meta, IfNoneMatch: ifNoneMatch,
	})
	return s3Error(err)
}

func (s *S3Store) putMultipart(ctx context.Context, key string, r io.ReadSeeker, size int64, meta map[string]string, ifNoneMatch *string) (err error) {
	full := aws.String(s.prefix + key)
	up, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: full, Metadata: meta})
	if err != nil {
		return s3Error(err)
	}
	defer func() {
		if err != nil {
			// Best effort, on a fresh context: the caller's may be done.
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: full, UploadId: up.UploadId})
			cancel()
		}
	}()
	var parts []types.CompletedPart
	for off, n := int64(0), int32(1); off < size; off, n = off+s.partSize, n+1 {
		body, md5sum, err := section(r, off, min(s.partSize, size-off))
		if err != nil {
			return err
		}
		out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: &s.bucket, Key: full, UploadId: up.UploadId, PartNumber: aws.Int32(n),
			Body: body, ContentLength: aws.Int64(body.Size()), ContentMD5: aws.String(md5sum),
		})
		if err != nil {
			return fmt.Errorf("part %d: %w", n, s3Error(err))
		}
		parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(n)})
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: &s.bucket, Key: full, UploadId: up.UploadId, IfNoneMatch: ifNoneMatch,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	return s3Error(err)
}

// section returns n bytes of r from off as a seekable body (the SDK signs
// and may resend it) with their base64 MD5. A reader that can read at an
// offset is not copied.
func section(r io.ReadSeeker, off, n int64) (*io.SectionReader, string, error) {
	var sr *io.SectionReader
	if ra, ok := r.(io.ReaderAt); ok {
		sr = io.NewSectionReader(ra, off, n)
	} else {
		if _, err := r.Seek(off, io.SeekStart); err != nil {
			return nil, "", err
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, "", fmt.Errorf("read body: %w", err)
		}
		sr = io.NewSectionReader(bytes.NewReader(buf), 0, n)
	}
	h := md5.New()
	if _, err := io.Copy(h, sr); err != nil {
		return nil, "", fmt.Errorf("read body: %w", err)
	}
	if _, err := sr.Seek(0, io.SeekStart); err != nil {
		return nil, "", err
	}
	return sr, base64.StdEncoding.EncodeToString(h.Sum(nil)), nil
}

// Get downloads the object; reading it to the end checks its SHA-256.
func (s *S3Store) Get(ctx context.Context, key string) (io.ReadCloser, ObjectInfo, error) {
	if err := validKey(key); err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("get %s: %w", key, err)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: aws.String(s.prefix + key)})
	if err != nil {
		return nil, ObjectInfo{}, fmt.Errorf("get %s from %s: %w", key, s.name, s3Error(err))
	}
	info := ObjectInfo{Key: key, Size: aws.ToInt64(out.ContentLength), SHA256: out.Metadata[metaSHA256], Modified: aws.ToTime(out.LastModified)}
	return newCheckedReader(out.Body, s.name, info), info, nil
}

// Stat reads the object's size and recorded SHA-256 (HEAD).
func (s *S3Store) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	if err := validKey(key); err != nil {
		return ObjectInfo{}, fmt.Errorf("stat %s: %w", key, err)
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: aws.String(s.prefix + key)})
	if err != nil {
		return ObjectInfo{}, fmt.Errorf("stat %s in %s: %w", key, s.name, s3Error(err))
	}
	return ObjectInfo{Key: key, Size: aws.ToInt64(out.ContentLength), SHA256: out.Metadata[metaSHA256], Modified: aws.ToTime(out.LastModified)}, nil
}

// List pages through ListObjectsV2. S3 lists no metadata, so SHA256 is
// empty in what it reports; Stat gives it.
func (s *S3Store) List(ctx context.Context, prefix string, fn func(ObjectInfo) error) error {
	in := &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String(s.prefix + prefix)}
	if s.pageSize > 0 {
		in.MaxKeys = aws.Int32(s.pageSize)
	}
	p := s3.NewListObjectsV2Paginator(s.client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list %q in %s: %w", prefix, s.name, s3Error(err))
		}
		for _, o := range page.Contents {
			info := ObjectInfo{Key: strings.TrimPrefix(aws.ToString(o.Key), s.prefix), Size: aws.ToInt64(o.Size), Modified: aws.ToTime(o.LastModified)}
			if err := fn(info); err != nil {
				return err
			}
		}
	}
	return nil
}

// Delete removes the object (S3 answers success for a missing key).
func (s *S3Store) Delete(ctx context.Context, key string) error {
	if err := validKey(key); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: aws.String(s.prefix + key)})
	if err != nil {
		return fmt.Errorf("delete %s in %s: %w", key, s.name, s3Error(err))
	}
	return nil
}

// s3Error maps the SDK's errors to the store's sentinels, keeping the
// original in the chain for its message.
func s3Error(err error) error {
	if err == nil {
		return nil
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "NoSuchKey", "NotFound":
			return fmt.Errorf("%w: %w", ErrNotFound, err)
		case "PreconditionFailed", "ConditionalRequestConflict":
			return fmt.Errorf("%w: %w", ErrExists, err)
		case "NoSuchBucket":
			return fmt.Errorf("%w: %w", ErrNoBucket, err)
		case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
			"XAdminUserNotFound": // versitygw's answer to an unknown access key
			return fmt.Errorf("%w: %w", ErrAccessDenied, err)
		case "InsufficientStorage", "QuotaExceeded", "EntityTooLarge":
			return fmt.Errorf("%w: %w", ErrStoreFull, err)
		}
		var re *awshttp.ResponseError
		if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound {
			return fmt.Errorf("%w: %w", ErrNotFound, err)
		}
		return err
	}
	var ne net.Error
	var op *net.OpError
	if errors.As(err, &op) || errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	return err
}

// sha256Hex is the hex SHA-256 of b.
func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
