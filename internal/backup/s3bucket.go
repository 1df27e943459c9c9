package backup

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3Bucket is raw access to one bucket of an S3-compatible store: its
// objects as the apps wrote them (content type, cache control, user
// metadata), for the storage part's replication, re-sync and the edge's
// reads of public objects. Unlike S3Store it adds nothing to what it
// writes and checks nothing it reads: an app's bucket is not a backup
// repository.
type S3Bucket struct {
	client *s3.Client
	bucket string
	name   string
	creds  aws.Credentials
	region string
	signer *v4.Signer
}

// BucketObject describes an object of an S3Bucket.
type BucketObject struct {
	Key      string
	Size     int64
	ETag     string // as the store reports it, quotes removed; MD5 hex for a single PUT
	Modified time.Time
	Meta     ObjectMeta // from Head and Get only
}

// ObjectMeta is what an object carries besides its bytes, copied with it.
type ObjectMeta struct {
	ContentType, CacheControl, ContentDisposition, ContentEncoding, ContentLanguage string
	// User is the object's x-amz-meta-* fields, by lower-case name
	// without the prefix; nil when none.
	User map[string]string
}

// maxSinglePut is S3's largest single PUT; larger objects go in parts.
const maxSinglePut = 5 << 30

// NewS3Bucket makes a client for o's bucket; o.Prefix must be empty. It
// does no I/O: Ensure checks the store.
func NewS3Bucket(o S3Options) (*S3Bucket, error) {
	if o.Bucket == "" || o.Prefix != "" {
		return nil, errors.New("s3 bucket: a bucket without a prefix is required")
	}
	client, err := newS3Client(o)
	if err != nil {
		return nil, err
	}
	region := o.Region
	if region == "" {
		region = "us-east-1"
	}
	name := "s3://" + o.Bucket
	if o.Endpoint != "" {
		name = strings.TrimSuffix(o.Endpoint, "/") + "/" + o.Bucket
	}
	return &S3Bucket{
		client: client, bucket: o.Bucket, name: name, region: region,
		creds:  aws.Credentials{AccessKeyID: o.AccessKey, SecretAccessKey: o.SecretKey, SessionToken: o.SessionToken},
		signer: v4.NewSigner(func(so *v4.SignerOptions) { so.DisableURIPathEscaping = true }),
	}, nil
}

func (b *S3Bucket) String() string { return b.name }

// Bucket is the bucket's name.
func (b *S3Bucket) Bucket() string { return b.bucket }

// Ensure checks that the store takes the credentials and that the bucket
// exists, creating it if it does not. It reports whether it created it.
// A refusal wraps ErrAccessDenied, a store that cannot be reached
// ErrUnreachable.
func (b *S3Bucket) Ensure(ctx context.Context) (bool, error) {
	_, err := b.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &b.bucket})
	if err == nil {
		return false, nil
	}
	if err = bucketError(err); !errors.Is(err, ErrNoBucket) {
		return false, fmt.Errorf("check bucket %s: %w", b.name, err)
	}
	_, err = b.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &b.bucket})
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return false, fmt.Errorf("create bucket %s: %w", b.name, bucketError(err))
	}
	return err == nil, nil
}

// bucketError is s3Error for bucket calls, whose HEAD answers carry no
// error code: the status says it.
func bucketError(err error) error {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		switch re.HTTPStatusCode() {
		case http.StatusForbidden:
			return fmt.Errorf("%w: %w", ErrAccessDenied, err)
		case http.StatusNotFound:
			var api smithy.APIError
			if !errors.As(err, &api) || api.ErrorCode() == "NoSuchBucket" || api.ErrorCode() == "NotFound" {
				return fmt.Errorf("%w: %w", ErrNoBucket, err)
			}
		}
	}
	return s3Error(err)
}

// List calls fn for every object of the bucket, in key order, page by
// page; an error from fn stops the listing and is returned. Meta is empty:
// S3 lists none.
func (b *S3Bucket) List(ctx context.Context, fn func(BucketObject) error) error {
	p := s3.NewListObjectsV2Paginator(b.client, &s3.ListObjectsV2Input{Bucket: &b.bucket})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("list %s: %w", b.name, bucketError(err))
		}
		for _, o := range page.Contents {
			obj := BucketObject{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), ETag: unquote(aws.ToString(o.ETag)), Modified: aws.ToTime(o.LastModified)}
			if err := fn(obj); err != nil {
				return err
			}
		}
	}
	return nil
}

// Head describes the object at key; ErrNotFound if there is none.
func (b *S3Bucket) Head(ctx context.Context, key string) (BucketObject, error) {
	out, err := b.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &b.bucket, Key: &key})
	if err != nil {
		return BucketObject{}, fmt.Errorf("head %s in %s: %w", key, b.name, s3Error(err))
	}
	return BucketObject{Key: key, Size: aws.ToInt64(out.ContentLength), ETag: unquote(aws.ToString(out.ETag)), Modified: aws.ToTime(out.LastModified),
		Meta: ObjectMeta{ContentType: aws.ToString(out.ContentType), CacheControl: aws.ToString(out.CacheControl),
			ContentDisposition: aws.ToString(out.ContentDisposition), ContentEncoding: aws.ToString(out.ContentEncoding),
			ContentLanguage: aws.ToString(out.ContentLanguage), User: out.Metadata}}, nil
}

// Get opens the object at key; ErrNotFound if there is none. What it
// reads is not checked.
func (b *S3Bucket) Get(ctx context.Context, key string) (io.ReadCloser, BucketObject, error) {
	out, err := b.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &b.bucket, Key: &key})
	if err != nil {
		return nil, BucketObject{}, fmt.Errorf("get %s from %s: %w", key, b.name, s3Error(err))
	}
	obj := BucketObject{Key: key, Size: aws.ToInt64(out.ContentLength), ETag: unquote(aws.ToString(out.ETag)), Modified: aws.ToTime(out.LastModified),
		Meta: ObjectMeta{ContentType: aws.ToString(out.ContentType), CacheControl: aws.ToString(out.CacheControl),
			ContentDisposition: aws.ToString(out.ContentDisposition), ContentEncoding: aws.ToString(out.ContentEncoding),
			ContentLanguage: aws.ToString(out.ContentLanguage), User: out.Metadata}}
	return out.Body, obj, nil
}

// PutOptions are the options of S3Bucket.Put.
type PutOptions struct {
	// MD5 is the body's MD5, which the store checks (Content-MD5); nil
	// has Put compute it.
	MD5  []byte
	Meta ObjectMeta
	// IfMatch, if not "", writes only while the object's ETag is this:
	// the store refuses otherwise, and Put's error wraps ErrChanged.
	IfMatch string
	// IfAbsent writes only if the key holds no object (If-None-Match:
	// *); otherwise Put's error wraps ErrExists. Not with IfMatch, and
	// for objects up to a single PUT's size.
	IfAbsent bool
}

// ErrChanged is returned by Put when PutOptions.IfMatch no longer holds:
// the object changed meanwhile.
var ErrChanged = errors.New("object changed")

// Put writes the object at key from r (size bytes from its start, read
// more than once), replacing any, and returns the store's ETag.
func (b *S3Bucket) Put(ctx context.Context, key string, r io.ReadSeeker, size int64, o PutOptions) (string, error) {
	var ifNoneMatch *string
	if o.IfAbsent {
		ifNoneMatch = aws.String("*")
	}
	if size > maxSinglePut {
		if o.IfAbsent || o.IfMatch != "" {
			return "", fmt.Errorf("put %s in %s: a conditional write of %d bytes: at most %d", key, b.name, size, int64(maxSinglePut))
		}
		etag, err := b.putParts(ctx, key, r, size, o.Meta)
		if err != nil {
			return "", fmt.Errorf("put %s in %s: %w", key, b.name, err)
		}
		return etag, nil
	}
	body, sum, err := section(r, 0, size)
	if err != nil {
		return "", fmt.Errorf("put %s in %s: %w", key, b.name, err)
	}
	if o.MD5 != nil {
		sum = base64.StdEncoding.EncodeToString(o.MD5)
	}
	meta := o.Meta
	out, err := b.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &b.bucket, Key: &key, Body: body, ContentLength: aws.Int64(size), ContentMD5: &sum, IfMatch: optional(quote(o.IfMatch)), IfNoneMatch: ifNoneMatch,
		ContentType: optional(meta.ContentType), CacheControl: optional(meta.CacheControl), ContentDisposition: optional(meta.ContentDisposition),
		ContentEncoding: optional(meta.ContentEncoding), ContentLanguage: optional(meta.ContentLanguage), Metadata: meta.User,
	})
	if err != nil {
		err = s3Error(err)
		if o.IfMatch != "" && (errors.Is(err, ErrExists) || errors.Is(err, ErrNotFound)) {
			err = fmt.Errorf("%w: %w", ErrChanged, err)
		}
		return "", fmt.Errorf("put %s in %s: %w", key, b.name, err)
	}
	return unquote(aws.ToString(out.ETag)), nil
}

// putParts writes an object larger than a single PUT may be, in parts of
// defaultPartSize.
func (b *S3Bucket) putParts(ctx context.Context, key string, r io.ReadSeeker, size int64, meta ObjectMeta) (_ string, err error) {
	up, err := b.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &b.bucket, Key: &key,
		ContentType: optional(meta.ContentType), CacheControl: optional(meta.CacheControl), ContentDisposition: optional(meta.ContentDisposition),
		ContentEncoding: optional(meta.ContentEncoding), ContentLanguage: optional(meta.ContentLanguage), Metadata: meta.User})
	if err != nil {
		return "", s3Error(err)
	}
	defer func() {
		if err != nil {
			actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			b.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: &b.bucket, Key: &key, UploadId: up.UploadId})
			cancel()
		}
	}()
	var parts []types.CompletedPart
	for off, n := int64(0), int32(1); off < size; off, n = off+defaultPartSize, n+1 {
		body, sum, err := section(r, off, min(defaultPartSize, size-off))
		if err != nil {
			return "", err
		}
		out, err := b.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: &b.bucket, Key: &key, UploadId: up.UploadId, PartNumber: aws.Int32(n),
			Body: body, ContentLength: aws.Int64(body.Size()), ContentMD5: &sum})
		if err != nil {
			return "", fmt.Errorf("part %d: %w", n, s3Error(err))
		}
		parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(n)})
	}
	out, err := b.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &b.bucket, Key: &key, UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	if err != nil {
		return "", s3Error(err)
	}
	return unquote(aws.ToString(out.ETag)), nil
}

// Delete removes the object at key; a missing one is no error.
func (b *S3Bucket) Delete(ctx context.Context, key string) error {
	if _, err := b.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &b.bucket, Key: &key}); err != nil {
		return fmt.Errorf("delete %s in %s: %w", key, b.name, s3Error(err))
	}
	return nil
}

// Sign signs req with the bucket's credentials (AWS Signature Version 4,
// payload unsigned), for a request to the store that the storage part
// builds itself: the edge's reads of public objects. The request's URL
// must be escaped as S3 does (RawPath set where Go's escaping differs),
// and no header may change after it is signed.
func (b *S3Bucket) Sign(req *http.Request) error {
	const unsigned = "UNSIGNED-PAYLOAD"
	req.Header.Set("X-Amz-Content-Sha256", unsigned)
	if err := b.signer.SignHTTP(req.Context(), b.creds, req, unsigned, "s3", b.region, time.Now()); err != nil {
		return fmt.Errorf("sign request to %s: %w", b.name, err)
	}
	return nil
}

// MD5ETag reports whether etag is a single PUT's: the MD5 of the object's
// bytes, in hex, and returns those bytes' sum as it says. A multipart
// upload's ETag ("<hex>-<parts>") is not.
func MD5ETag(etag string) ([md5.Size]byte, bool) {
	var sum [md5.Size]byte
	if len(etag) != 2*md5.Size {
		return sum, false
	}
	for i := range sum {
		hi, lo := unhex(etag[2*i]), unhex(etag[2*i+1])
		if hi < 0 || lo < 0 {
			return sum, false
		}
		sum[i] = byte(hi<<4 | lo)
	}
	return sum, true
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func unquote(etag string) string { return strings.Trim(etag, `"`) }

func quote(etag string) string {
	if etag == "" {
		return ""
	}
	return `"` + etag + `"`
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
