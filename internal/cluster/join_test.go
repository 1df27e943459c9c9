package cluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestThreeNodes forms a three-node cluster with one reusable token, then
// shows refused joins leave no learner behind, quorum loss and recovery,
// and member removal with its quorum guard.
func TestThreeNodes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	a := openNode(t, testOptions(t, "a", "127.0.0.1"))
	expiring, err := a.CreateJoinToken(ctx, 2*time.Second)
	if err != nil {
		t.Fatalf("CreateJoinToken(2s) = %v", err)
	}
	token, err := a.CreateJoinToken(ctx, 0)
	if err != nil {
		t.Fatalf("CreateJoinToken(0) = %v", err)
	}
	nodes := map[string]*testNode{"a": a}
	for _, n := range []struct{ name, ip string }{{"b", "127.0.0.2"}, {"c", "127.0.0.3"}} {
		opts := testOptions(t, n.name, n.ip)
		opts.Join = token
		nodes[n.name] = openNode(t, opts)
	}
	b, c := nodes["b"], nodes["c"]
	wantMembers(t, a, []string{"a", "b", "c"}, 3)

	key := a.Prefix() + "written-on-a"
	if _, err := a.Client().Put(ctx, key, "v1"); err != nil {
		t.Fatalf("Put on a = %v", err)
	}
	resp, err := c.Client().Get(ctx, key)
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v1" {
		t.Fatalf("Get(%q) on c = %v, %v; want v1", key, resp, err)
	}
	waitFor(t, 5*time.Second, "a's health names a leader", func() bool { return a.Health().Leader != "" })

	t.Run("refused joins leave no learner", func(t *testing.T) {
		tok, err := ParseJoinToken(token)
		if err != nil {
			t.Fatal(err)
		}
		wrongSecret, wrongCA := tok, tok
		wrongSecret.Secret[0] ^= 1
		wrongCA.CAHash[0] ^= 1
		waitFor(t, 10*time.Second, "expired token deleted", func() bool {
			et, _ := ParseJoinToken(expiring)
			r, err := a.Client().Get(ctx, a.joinTokenKey(et.ID))
			return err == nil && len(r.Kvs) == 0
		})
		for _, tc := range []struct {
			name  string
			node  string
			token string
			want  error
		}{
			{"wrong secret", "d", wrongSecret.String(), ErrJoinToken},
			{"expired", "d", expiring, ErrJoinToken},
			{"CA hash does not match", "d", wrongCA.String(), ErrCAMismatch},
			{"name of a member", "b", token, ErrNameInUse},
		} {
			opts := testOptions(t, tc.node, "127.0.0.4")
			opts.Join = tc.token
			_, err := startNode(t, opts)
			if !errors.Is(err, tc.want) {
				t.Errorf("join with %s = %v; want %v", tc.name, err, tc.want)
			} else {
				t.Logf("join with %s: %v", tc.name, err)
			}
			wantMembers(t, a, []string{"a", "b", "c"}, 3)
		}
	})

	t.Run("failure after admission removes the learner", func(t *testing.T) {
		opts := testOptions(t, "d", "127.0.0.4")
		opts.Join = token
		busy, err := net.Listen("tcp", net.JoinHostPort(opts.Advertise, strconv.Itoa(opts.PeerPort)))
		if err != nil {
			t.Fatal(err)
		}
		defer busy.Close()
		if _, err := startNode(t, opts); err == nil {
			t.Fatalf("join with the peer port taken = nil; want an error")
		} else {
			t.Logf("join with the peer port taken: %v", err)
		}
		wantMembers(t, a, []string{"a", "b", "c"}, 3)
		if _, err := os.Stat(opts.etcdDir()); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("stat %s after a failed join = %v; want it removed", opts.etcdDir(), err)
		}
	})

	t.Run("one join at a time", func(t *testing.T) {
		tok, _ := ParseJoinToken(token)
		j, err := New(testOptions(t, "x", "127.0.0.5"))
		if err != nil {
			t.Fatal(err)
		}
		first := joinRequestFor(t, tok, "x", "127.0.0.5", 17380)
		if _, err := j.requestJoin(ctx, tok, first); err != nil {
			t.Fatalf("first join of x = %v", err)
		}
		// x never starts; its retry replaces the learner it left.
		retried, err := j.requestJoin(ctx, tok, first)
		if err != nil {
			t.Fatalf("retried join of x = %v", err)
		}
		_, err = j.requestJoin(ctx, tok, joinRequestFor(t, tok, "y", "127.0.0.6", 17380))
		if !errors.Is(err, ErrJoinInProgress) {
			t.Errorf("join of y while x is a learner = %v; want %v", err, ErrJoinInProgress)
		}
		id, _ := strconv.ParseUint(retried.MemberID, 16, 64)
		if _, err := a.Client().MemberRemove(ctx, id); err != nil {
			t.Fatalf("remove learner x = %v", err)
		}
		wantMembers(t, a, []string{"a", "b", "c"}, 3)
	})

	c.stop()
	if err := a.RemoveMember(ctx, "b"); !errors.Is(err, ErrWouldLoseQuorum) {
		t.Errorf("RemoveMember(b) with c down = %v; want %v", err, ErrWouldLoseQuorum)
	}
	b.stop()
	waitFor(t, 5*time.Second, "a reports no quorum", func() bool { return !a.Health().Quorum })
	lost := a.Health()
	t.Logf("a without b and c: %+v", lost)
	d := testOptions(t, "d", "127.0.0.4")
	d.Join = token
	if _, err := startNode(t, d); !errors.Is(err, ErrNoQuorum) {
		t.Errorf("join without quorum = %v; want %v", err, ErrNoQuorum)
	}
	b = openNode(t, b.opts) // b.opts.Join is set: ignored, b is a member
	waitFor(t, 5*time.Second, "a reports quorum", func() bool { return a.Health().Quorum })
	if back := a.Health(); !back.Since.After(lost.Since) {
		t.Errorf("Health().Since = %v after quorum came back; want after %v", back.Since, lost.Since)
	}

	c = openNode(t, c.opts)
	waitFor(t, 10*time.Second, "three healthy members", func() bool {
		ms, err := a.Members(ctx)
		return err == nil && countHealthyVoters(ms) == 3
	})
	if err := a.RemoveMember(ctx, "c"); err != nil {
		t.Fatalf("RemoveMember(c) = %v", err)
	}
	wantMembers(t, a, []string{"a", "b"}, 2)
}

// wantMembers checks that c's cluster has exactly the named members, no
// learner, and eventually healthy voters of them healthy.
func wantMembers(t *testing.T, c *testNode, names []string, healthy int) {
	t.Helper()
	var ms []Member
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for {
		ms, err = c.Members(t.Context())
		if err == nil && countHealthyVoters(ms) == healthy || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("Members() = %v", err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, m.Name)
		if m.Learner {
			t.Errorf("member %q (%s) is a learner; want none", m.Name, m.ID)
		}
	}
	if !slices.Equal(got, names) || countHealthyVoters(ms) != healthy {
		t.Fatalf("Members() = %+v; want %v with %d healthy", ms, names, healthy)
	}
}

func countHealthyVoters(ms []Member) int {
	n := 0
	for _, m := range ms {
		if m.Healthy && !m.Learner {
			n++
		}
	}
	return n
}

// joinRequestFor is a well-formed join request for a node that will never
// start.
func joinRequestFor(t *testing.T, tok JoinToken, node, ip string, port int) *joinRequest {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: node}}, key)
	if err != nil {
		t.Fatal(err)
	}
	hp := net.JoinHostPort(ip, strconv.Itoa(port))
	return &joinRequest{
		TokenID: tok.ID, Secret: tok.Secret[:], Node: node, Advertise: ip,
		PeerURL: "https://" + hp, ClientURL: "https://" + net.JoinHostPort(ip, strconv.Itoa(port+1)), CSR: csr,
	}
}

// TestConcurrentJoins: two nodes started at once with the same token both
// join; the second waits for the first (etcd admits one learner at a
// time) and retries by itself.
func TestConcurrentJoins(t *testing.T) {
	t.Parallel()
	a := openNode(t, testOptions(t, "a", "127.0.0.1"))
	token, err := a.CreateJoinToken(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	opts := []Options{testOptions(t, "b", "127.0.0.2"), testOptions(t, "c", "127.0.0.3")}
	errs := make(chan error, len(opts))
	for _, o := range opts {
		o.Join = token
		go func() {
			n, err := startNode(t, o)
			if err == nil {
				t.Cleanup(n.stop)
			}
			errs <- err
		}()
	}
	for range opts {
		if err := <-errs; err != nil {
			t.Errorf("concurrent join = %v; want both nodes to join", err)
		}
	}
	wantMembers(t, a, []string{"a", "b", "c"}, 3)
}
