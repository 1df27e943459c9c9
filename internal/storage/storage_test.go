package storage

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/backup"
)

// TestEnsureLater: a store that cannot be reached at start is no error;
// Run creates the bucket once the store answers. A store that refuses
// the credentials is an error naming the stack file's fields.
func TestEnsureLater(t *testing.T) {
	t.Parallel()
	s := startStore(t)
	s.Stop()
	st, err := New(Options{Store: s.endpoint("storage.store.s3"), Buckets: []Bucket{{App: "web", Name: "shop-web"}}, EnsureEvery: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := st.Ensure(ctx); err != nil {
		t.Fatalf("Ensure with the store down = %v; want nil (the node starts)", err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- st.Run(runCtx) }()
	defer func() { stop(); <-done }()
	s.Start()
	waitUntil(t, "bucket created", 20*time.Second, func() bool {
		created, err := st.Pair("web").Store.Ensure(ctx)
		return err == nil && !created
	})

	wrong := s.endpoint("storage.store.s3")
	wrong.SecretKey = "not-the-secret"
	bad, err := New(Options{Store: wrong, Buckets: []Bucket{{App: "web", Name: "shop-web"}}})
	if err != nil {
		t.Fatal(err)
	}
	err = bad.Ensure(ctx)
	var ee *EndpointError
	if !errors.As(err, &ee) || !errors.Is(err, backup.ErrAccessDenied) ||
		!strings.HasPrefix(err.Error(), "storage.store.s3.access_key, storage.store.s3.secret_key: the store refused them") {
		t.Errorf("Ensure with a wrong secret = %v; want an EndpointError naming the keys", err)
	}
}

// TestEnv: an app with a bucket is told where it is in the names S3 SDKs
// read; an app without one is told nothing.
func TestEnv(t *testing.T) {
	t.Parallel()
	e := Endpoint{Field: "storage.store.s3", URL: "https://s3.example:9000", Region: "eu-1", PathStyle: true, AccessKey: "AK", SecretKey: "SK"}
	st, err := New(Options{Store: e, Buckets: []Bucket{{App: "web", Name: "shop-web", PublicURL: "/media/"}}})
	if err != nil {
		t.Fatal(err)
	}
	got := st.Env("web")
	for _, want := range []string{"AWS_ENDPOINT_URL_S3=https://s3.example:9000", "S3_ENDPOINT=https://s3.example:9000", "S3_BUCKET=shop-web",
		"AWS_ACCESS_KEY_ID=AK", "AWS_SECRET_ACCESS_KEY=SK", "AWS_REGION=eu-1", "S3_FORCE_PATH_STYLE=true", "S3_PUBLIC_URL=/media/"} {
		if !slices.Contains(got, want) {
			t.Errorf("Env(web) = %q; lacks %s", got, want)
		}
	}
	if got := st.Env("worker"); got != nil {
		t.Errorf("Env of an app without a bucket = %q; want nil", got)
	}
}
