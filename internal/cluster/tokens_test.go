package cluster

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex // guards t
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newTestTokenRecords returns token records over client with clock's time.
func newTestTokenRecords(t *testing.T, client *clientv3.Client, clock *fakeClock) *TokenRecords {
	t.Helper()
	r, err := NewTokenRecords(TokenRecordsOptions{
		Client: func() *clientv3.Client { return client }, Prefix: testPrefix,
		CacheFor: 3 * time.Second, ReadTimeout: 300 * time.Millisecond, Now: clock.now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestTokenRecords: records made through one node's TokenRecords are seen
// by another's at once; a deletion is seen at once where it was made and
// within CacheFor elsewhere; Create and Delete report what exists.
func TestTokenRecords(t *testing.T) {
	e := newTestEtcd(t)
	clock := &fakeClock{t: time.Unix(1_000_000, 0)}
	a := newTestTokenRecords(t, e.newClient(), clock)
	b := newTestTokenRecords(t, e.newClient(), clock)
	ctx := context.Background()

	if err := a.Create(ctx, "t1", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := b.Create(ctx, "t1", []byte("other")); !errors.Is(err, ErrRecordExists) {
		t.Errorf("Create(%q) again = %v; want ErrRecordExists", "t1", err)
	}
	if v, err := b.Get(ctx, "t1"); err != nil || string(v) != "one" {
		t.Errorf("b.Get(%q) = %q, %v; want %q", "t1", v, err, "one")
	}
	for _, id := range []string{"nope", "", "a/b"} {
		if _, err := b.Get(ctx, id); !errors.Is(err, ErrNoRecord) {
			t.Errorf("Get(%q) = %v; want ErrNoRecord", id, err)
		}
	}
	if err := a.Create(ctx, "t2", []byte("two")); err != nil {
		t.Fatal(err)
	}
	all, err := b.List(ctx)
	if err != nil || len(all) != 2 || string(all["t2"]) != "two" {
		t.Errorf("List = %q, %v; want t1 and t2", all, err)
	}

	// Update sees the current value and keeps the cache in step.
	err = b.Update(ctx, "t1", func(old []byte) ([]byte, bool) { return append(old, '+'), true })
	if v, _ := a.Get(ctx, "t1"); err != nil || string(v) != "one" {
		t.Errorf("a.Get after b.Update = %q, %v; want the cached %q until CacheFor passes", v, err, "one")
	}
	clock.advance(3 * time.Second)
	if v, err := a.Get(ctx, "t1"); err != nil || string(v) != "one+" {
		t.Errorf("a.Get after CacheFor = %q, %v; want %q", v, err, "one+")
	}
	if err := a.Update(ctx, "nope", func(old []byte) ([]byte, bool) { return old, true }); !errors.Is(err, ErrNoRecord) {
		t.Errorf("Update(%q) = %v; want ErrNoRecord", "nope", err)
	}

	// Deleted through b: b refuses it at once, a once its copy is stale.
	if err := b.Delete(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "t1"); !errors.Is(err, ErrNoRecord) {
		t.Errorf("b.Get after b.Delete = %v; want ErrNoRecord", err)
	}
	if _, err := a.Get(ctx, "t1"); err != nil {
		t.Errorf("a.Get within CacheFor of the deletion = %v; want the cached record", err)
	}
	clock.advance(3 * time.Second)
	if _, err := a.Get(ctx, "t1"); !errors.Is(err, ErrNoRecord) {
		t.Errorf("a.Get after CacheFor = %v; want ErrNoRecord", err)
	}
	if err := a.Delete(ctx, "t1"); !errors.Is(err, ErrNoRecord) {
		t.Errorf("Delete of a deleted record = %v; want ErrNoRecord", err)
	}
	// A deleted record is not brought back by an update racing with it.
	if err := a.Update(ctx, "t1", func(old []byte) ([]byte, bool) { return old, true }); !errors.Is(err, ErrNoRecord) {
		t.Errorf("Update of a deleted record = %v; want ErrNoRecord", err)
	}
}

// TestTokenRecordsWithoutEtcd: while etcd is down, records read before
// are still served, however old; unknown ones and every change fail with
// an error that is not ErrNoRecord; all works again once etcd is back.
func TestTokenRecordsWithoutEtcd(t *testing.T) {
	t.Parallel()
	e := newTestEtcd(t)
	clock := &fakeClock{t: time.Unix(1_000_000, 0)}
	r := newTestTokenRecords(t, e.newClient(), clock)
	ctx := context.Background()
	if err := r.Create(ctx, "known", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := r.Create(ctx, "unread", []byte("w")); err != nil {
		t.Fatal(err)
	}
	r.forget("unread") // as on a node that never looked it up

	e.stop()
	clock.advance(time.Hour)
	if v, err := r.Get(ctx, "known"); err != nil || string(v) != "v" {
		t.Errorf("Get(%q) without etcd = %q, %v; want the last value read", "known", v, err)
	}
	if _, err := r.Get(ctx, "unread"); err == nil || errors.Is(err, ErrNoRecord) {
		t.Errorf("Get(%q) without etcd = %v; want an error other than ErrNoRecord", "unread", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	if err := r.Create(wctx, "new", []byte("x")); err == nil || errors.Is(err, ErrRecordExists) {
		t.Errorf("Create without etcd = %v; want an etcd error", err)
	}
	if err := r.Delete(wctx, "known"); err == nil || errors.Is(err, ErrNoRecord) {
		t.Errorf("Delete without etcd = %v; want an etcd error", err)
	}
	if _, err := r.List(ctx); err == nil {
		t.Error("List without etcd = nil error; want one")
	}

	e.start()
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, err := r.Get(ctx, "unread")
		if err == nil && string(v) == "w" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Get(%q) after etcd restarted = %q, %v; want %q within 10s", "unread", v, err, "w")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTokenRecordsNotOpen: before the cluster is open, every operation
// fails with ErrNotOpen.
func TestTokenRecordsNotOpen(t *testing.T) {
	r, err := NewTokenRecords(TokenRecordsOptions{Client: func() *clientv3.Client { return nil }, Prefix: testPrefix})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Get(context.Background(), "x"); !errors.Is(err, ErrNotOpen) {
		t.Errorf("Get before open = %v; want ErrNotOpen", err)
	}
	if err := r.Create(context.Background(), "x", nil); !errors.Is(err, ErrNotOpen) {
		t.Errorf("Create before open = %v; want ErrNotOpen", err)
	}
	if _, err := NewTokenRecords(TokenRecordsOptions{Client: r.client, Prefix: "no-slashes"}); err == nil {
		t.Error("NewTokenRecords with a bad prefix = nil error; want one")
	}
}
