package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// ObjectsConfig is where uploads go when the environment names an S3
// bucket (S3_BUCKET): the AWS SDK reads the endpoint
// (AWS_ENDPOINT_URL_S3), the credentials and the region from the
// environment itself, as tandem sets them for an app with a bucket.
type ObjectsConfig struct {
	Bucket    string // S3_BUCKET
	PathStyle bool   // S3_FORCE_PATH_STYLE: the bucket in the URL's path (most self-hosted stores)
	// PublicURL is where the edge serves the bucket's objects
	// (S3_PUBLIC_URL, e.g. /media/): a file's link goes there. "" serves
	// them through the wiki.
	PublicURL string
}

// The object store's failures a user is told of: nothing was recorded,
// and they may try again.
var (
	errStorageDown = errors.New("the file store is not answering; nothing was saved, try again in a moment")
	errStorageFull = errors.New("the file store is full; nothing was saved")
	errStorageFail = errors.New("the file store failed to save the file; nothing was saved, try again in a moment")
)

// Objects keeps uploaded bytes in an S3 bucket, by their SHA-256: the
// same bytes are one object, and an object never changes.
type Objects struct {
	client *s3.Client
	bucket string
	public string
}

// NewObjects makes the client from the environment (the AWS SDK's own
// configuration chain: AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_REGION). It does no I/O.
func NewObjects(ctx context.Context, c ObjectsConfig) (*Objects, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("S3 configuration: %w", err)
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = c.PathStyle
		o.RetryMaxAttempts = 2 // a store that is down fails the upload soon
	})
	public := c.PublicURL
	if public != "" && !strings.HasSuffix(public, "/") {
		public += "/"
	}
	return &Objects{client: client, bucket: c.Bucket, public: public}, nil
}

// Put stores size bytes of body as the object sum, with the headers the
// edge serves it with.
func (o *Objects) Put(ctx context.Context, sum string, body io.ReadSeeker, size int64, f File) error {
	in := &s3.PutObjectInput{
		Bucket: &o.bucket, Key: &sum, Body: body, ContentLength: aws.Int64(size),
		ContentType: aws.String(f.ContentType), CacheControl: aws.String(cacheFiles),
	}
	if d := disposition(f); d != "" {
		in.ContentDisposition = aws.String(d)
	}
	if _, err := o.client.PutObject(ctx, in); err != nil {
		return storeError("store upload", err)
	}
	return nil
}

// Open reads the object sum.
func (o *Objects) Open(ctx context.Context, sum string) (io.ReadCloser, error) {
	out, err := o.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &o.bucket, Key: &sum})
	if err != nil {
		return nil, storeError("read upload", err)
	}
	return out.Body, nil
}

// URL is where a browser fetches the object sum; "" when the wiki serves
// it itself.
func (o *Objects) URL(sum string) string {
	if o.public == "" {
		return ""
	}
	return o.public + sum
}

// storeError wraps a store's failure: a full store is a 507, a store
// failing (5xx) or not answering a 503, which the user may retry; a
// refusal or a missing bucket is the wiki's problem, a 500 logged as such.
func storeError(op string, err error) error {
	var api smithy.APIError
	var resp interface{ HTTPStatusCode() int }
	switch {
	case errors.As(err, &resp) && resp.HTTPStatusCode() == http.StatusInsufficientStorage,
		errors.As(err, &api) && api.ErrorCode() == "InsufficientStorage":
		return withStatus(http.StatusInsufficientStorage, &storeFailure{told: errStorageFull, cause: fmt.Errorf("%s: %w", op, err)})
	case errors.As(err, &resp) && resp.HTTPStatusCode() >= 500:
		return withStatus(http.StatusServiceUnavailable, &storeFailure{told: errStorageFail, cause: fmt.Errorf("%s: %w", op, err)})
	case errors.As(err, &api):
		return fmt.Errorf("%s: %w", op, err)
	}
	return withStatus(http.StatusServiceUnavailable, &storeFailure{told: errStorageDown, cause: fmt.Errorf("%s: %w", op, err)})
}

// storeFailure is a failure of the store told to the user as told; its
// cause (the store's answer, with its request ids) is logged, not shown.
type storeFailure struct {
	told, cause error
}

func (e *storeFailure) Error() string   { return e.told.Error() }
func (e *storeFailure) Unwrap() []error { return []error{e.told, e.cause} }

// objectsFromEnv reads the bucket's configuration; ok is false when
// S3_BUCKET is unset (uploads stay in the local directory).
func objectsFromEnv(getenv func(string) string) (ObjectsConfig, bool, error) {
	c := ObjectsConfig{Bucket: getenv("S3_BUCKET"), PublicURL: getenv("S3_PUBLIC_URL")}
	if c.Bucket == "" {
		return c, false, nil
	}
	if v := getenv("S3_FORCE_PATH_STYLE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return c, false, fmt.Errorf("S3_FORCE_PATH_STYLE: %q is not true or false", v)
		}
		c.PathStyle = b
	}
	if getenv("AWS_ENDPOINT_URL_S3") == "" && getenv("AWS_ENDPOINT_URL") == "" && getenv("AWS_REGION") == "" {
		return c, false, errors.New("S3_BUCKET is set but neither AWS_ENDPOINT_URL_S3 nor AWS_REGION says where the bucket is")
	}
	return c, true, nil
}

// disposition is the Content-Disposition of an upload: a download for
// any type not shown inline (see inlineTypes).
func disposition(f File) string {
	mediaType, _, _ := strings.Cut(f.ContentType, ";")
	if inlineTypes[strings.TrimSpace(mediaType)] {
		return ""
	}
	return `attachment; filename="` + f.Name + `"`
}

// putObject sends a spooled upload to the store and removes the spool
// file.
func (a *App) putObject(ctx context.Context, tmp *os.File, f File) error {
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("store upload: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return a.objects.Put(ctx, f.SHA256, tmp, f.Size, f)
}
