package sites

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tandem-run/tandem/internal/balance"
	"github.com/tandem-run/tandem/internal/pgha"
)

func TestDecide(t *testing.T) {
	for _, c := range []struct {
		method      string
		want        pgha.LSN
		hasWant     bool
		replayed    pgha.LSN
		sitePrimary bool
		route       Route
	}{
		{"GET", 0, false, 0, false, RouteLocal},
		{"HEAD", 0, false, 0, false, RouteLocal},
		{"GET", 100, true, 100, false, RouteLocal}, // replayed exactly as far
		{"GET", 100, true, 200, false, RouteLocal},
		{"GET", 100, true, 99, false, RouteLeader},
		{"HEAD", 100, true, 0, false, RouteLeader},
		{"POST", 0, false, 0, false, RouteLeader},
		{"PUT", 0, false, 500, false, RouteLeader},
		{"PATCH", 0, false, 0, false, RouteLeader},
		{"DELETE", 0, false, 0, false, RouteLeader},
		{"OPTIONS", 0, false, 0, false, RouteLeader},
		{"GET", 100, true, 0, true, RouteAll}, // an emergency: the site leads
		{"POST", 0, false, 0, true, RouteAll},
	} {
		if got := Decide(c.method, c.want, c.hasWant, c.replayed, c.sitePrimary); got != c.route {
			t.Errorf("Decide(%s, %v, %v, %v, %v) = %d; want %d", c.method, c.want, c.hasWant, c.replayed, c.sitePrimary, got, c.route)
		}
	}
}

func TestParseLSNCookie(t *testing.T) {
	for _, c := range []struct {
		cookie string
		want   pgha.LSN
		ok     bool
	}{
		{"", 0, false},
		{"tandem-lsn=0/16B3748", 0x16B3748, true},
		{"session=abc; tandem-lsn=1A/2B", 0x1A<<32 | 0x2B, true},
		{"tandem-lsn=1/0; tandem-lsn=0/FF", 1 << 32, true}, // the furthest counts
		{"tandem-lsn=garbage", 0, false},
		{"tandem-lsn=0/0", 0, false},
		{"tandem-lsn=123456789/0", 0, false},
		{"tandem-lsn=FFFFFFFF/FFFFFFFF", unknownLSN, true},
		{"other-lsn=0/10", 0, false},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if c.cookie != "" {
			r.Header.Set("Cookie", c.cookie)
		}
		if got, ok := ParseLSNCookie(r); got != c.want || ok != c.ok {
			t.Errorf("ParseLSNCookie(%q) = %v, %v; want %v, %v", c.cookie, got, ok, c.want, c.ok)
		}
	}
}

// FuzzParseLSNCookie: any Cookie header parses without panicking, and a
// position it yields is one the cookie set for it reads back as.
func FuzzParseLSNCookie(f *testing.F) {
	for _, s := range []string{"tandem-lsn=0/16B3748", "a=b; tandem-lsn=1/2; tandem-lsn=x", "tandem-lsn=/", "tandem-lsn=\"0/1\"", "tandem-lsn=0/1;;;"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Cookie", header)
		lsn, ok := ParseLSNCookie(r)
		if !ok {
			if lsn != 0 {
				t.Fatalf("ParseLSNCookie(%q) = %v, false; want 0 with false", header, lsn)
			}
			return
		}
		back := httptest.NewRequest("GET", "/", nil)
		back.AddCookie(lsnCookie(lsn, false))
		if again, ok := ParseLSNCookie(back); !ok || again != lsn {
			t.Fatalf("ParseLSNCookie(%q) = %v; its cookie reads back as %v, %v", header, lsn, again, ok)
		}
	})
}

// fakeSite is a site's transport that answers with its name, or fails
// with ErrNoTarget when it has no instance; with replay set, its answers
// carry ReplayHeader.
type fakeSite struct {
	name   string
	empty  bool
	replay bool
	got    []string // methods received, and each request's body after a space
	bodies []*closeBody
}

func (s *fakeSite) RoundTrip(req *http.Request) (*http.Response, error) {
	if s.empty {
		return nil, fmt.Errorf("pool web: %w", balance.ErrNoTarget)
	}
	got := req.Method
	if req.Body != nil {
		b, _ := io.ReadAll(req.Body)
		if len(b) > 0 {
			got += " " + string(b)
		}
	}
	s.got = append(s.got, got)
	rec := httptest.NewRecorder()
	if s.replay {
		rec.Header().Set(ReplayHeader, "leader")
	}
	rec.WriteString(s.name)
	resp := rec.Result()
	b := &closeBody{ReadCloser: resp.Body}
	s.bodies = append(s.bodies, b)
	resp.Body = b
	return resp, nil
}

// closeBody is a response body that records its Close.
type closeBody struct {
	io.ReadCloser
	closed bool
}

func (b *closeBody) Close() error {
	b.closed = true
	return b.ReadCloser.Close()
}

// readsDB is the database as the sites see it.
type readsDB struct {
	primary  bool
	replayed pgha.LSN
	leader   pgha.LSN
	err      error
}

func (d *readsDB) SitePrimary() bool                           { return d.primary }
func (d *readsDB) SiteReplayed() pgha.LSN                      { return d.replayed }
func (d *readsDB) LeaderLSN(context.Context) (pgha.LSN, error) { return d.leader, d.err }

// TestReadsReadYourWrites: a write goes to the leader site and comes back
// with the leader's position in a cookie; a read carrying it goes to the
// leader site until the standby has replayed that far, then stays here;
// a read without it stays here.
func TestReadsReadYourWrites(t *testing.T) {
	all, local, leader := &fakeSite{name: "all"}, &fakeSite{name: "cloud"}, &fakeSite{name: "home"}
	db := &readsDB{replayed: 0x100, leader: 0x200}
	r := NewReads(ReadsOptions{App: "web", Site: "cloud", LeaderSite: "home", All: all, Local: local, Leader: leader, Database: db})

	resp := roundTrip(t, r, "POST", "", "home")
	cookies := resp.Cookies()
	if len(cookies) != 1 || cookies[0].Name != LSNCookie || cookies[0].Value != "0/200" || cookies[0].MaxAge != 0 || !cookies[0].HttpOnly {
		t.Fatalf("the write's cookies = %v; want %s=0/200 for the session, HttpOnly", cookies, LSNCookie)
	}
	roundTrip(t, r, "GET", "", "cloud")
	roundTrip(t, r, "GET", "tandem-lsn=0/200", "home") // replayed 0x100 only
	db.replayed = 0x200
	roundTrip(t, r, "GET", "tandem-lsn=0/200", "cloud")
	if len(all.got) != 0 {
		t.Errorf("the pool got %v; want nothing outside an emergency", all.got)
	}

	// An emergency: this site's database leads, the pool takes everything.
	db.primary = true
	roundTrip(t, r, "POST", "", "all")
	roundTrip(t, r, "GET", "tandem-lsn=FFFFFFFF/FFFFFFFF", "all")
}

// roundTrip sends method with cookie through r and checks which site
// answered, by body and by SiteHeader (none through the pool).
func roundTrip(t *testing.T, r *Reads, method, cookie, want string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, "/wiki/A", nil)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	resp, err := r.RoundTrip(req)
	if err != nil {
		t.Fatalf("%s with %q: %v", method, cookie, err)
	}
	body := new(strings.Builder)
	resp.Write(body)
	site := resp.Header.Get(SiteHeader)
	if !strings.HasSuffix(body.String(), want) || (want != "all" && site != want) {
		t.Fatalf("%s with %q: served by %q (%s %q); want %s", method, cookie, body, SiteHeader, site, want)
	}
	if v, ok := resp.Header[ReplayHeader]; ok {
		t.Fatalf("%s with %q: the answer carries %s %q; want it never to", method, cookie, ReplayHeader, v)
	}
	return resp
}

// TestReadsFallBack: with no instance to take it in the site it was meant
// for, a read goes to the other; a write never stays here; a write whose
// position cannot be read sends its client to the leader site for a
// while.
func TestReadsFallBack(t *testing.T) {
	local, leader := &fakeSite{name: "cloud", empty: true}, &fakeSite{name: "home"}
	db := &readsDB{err: errors.New("connection refused")}
	r := NewReads(ReadsOptions{App: "web", Site: "cloud", LeaderSite: "home", All: &fakeSite{name: "all"}, Local: local, Leader: leader, Database: db})
	roundTrip(t, r, "GET", "", "home")
	resp := roundTrip(t, r, "PUT", "", "home")
	if c := resp.Cookies(); len(c) != 1 || c[0].Value != unknownLSN.String() || c[0].MaxAge != int(unknownLSNAge.Seconds()) {
		t.Errorf("the cookie of a write whose position is unknown = %v; want %s for %s", c, unknownLSN, unknownLSNAge)
	}
	local.empty, leader.empty = false, true
	roundTrip(t, r, "GET", "tandem-lsn=0/10", "cloud") // the leader site is gone: stale is better than nothing
	if _, err := r.RoundTrip(httptest.NewRequest("POST", "/", nil)); !errors.Is(err, balance.ErrNoTarget) {
		t.Errorf("a write with no leader site node: %v; want ErrNoTarget", err)
	}
	if len(local.got) != 1 {
		t.Errorf("the site's instances got %v; want the one read", local.got)
	}
}

// TestReadsReplay: a read this site's instance answers with ReplayHeader
// is sent once to the leader site as a write — the leader's answer, with
// the cookie of its position, is the client's and this site's is closed —
// and never replayed again, even when the leader site answers with the
// header too; the header reaches no client, from whichever site, and a
// read the leader site serves is never replayed.
func TestReadsReplay(t *testing.T) {
	all, local, leader := &fakeSite{name: "all", replay: true}, &fakeSite{name: "cloud", replay: true}, &fakeSite{name: "home"}
	db := &readsDB{replayed: 0x100, leader: 0x200}
	r := NewReads(ReadsOptions{App: "web", Site: "cloud", LeaderSite: "home", All: all, Local: local, Leader: leader, Database: db})

	for i, method := range []string{"GET", "HEAD"} {
		resp := roundTrip(t, r, method, "", "home")
		if c := resp.Cookies(); len(c) != 1 || c[0].Name != LSNCookie || c[0].Value != "0/200" {
			t.Errorf("%s replayed: cookies %v; want %s=0/200 from the leader's answer", method, c, LSNCookie)
		}
		if len(local.got) != i+1 || len(leader.got) != i+1 || leader.got[i] != method {
			t.Fatalf("%s replayed: the site got %v, the leader site %v; want it once each", method, local.got, leader.got)
		}
		if !local.bodies[i].closed {
			t.Errorf("%s replayed: the site's discarded answer was not closed", method)
		}
	}

	leader.replay = true // the leader's instance asks too: served as it is
	roundTrip(t, r, "GET", "", "home")
	if len(local.got) != 3 || len(leader.got) != 3 {
		t.Errorf("with both sites asking: the site got %v, the leader site %v; want one replay, not two", local.got, leader.got)
	}
	roundTrip(t, r, "GET", "tandem-lsn=0/200", "home") // to the leader site for its cookie: not replayed
	if len(local.got) != 3 || len(leader.got) != 4 {
		t.Errorf("a read for the leader site: the site got %v, the leader site %v; want only the leader site once more", local.got, leader.got)
	}
	local.empty = true // no instance here: the leader site serves, not replayed
	roundTrip(t, r, "GET", "", "home")
	if len(leader.got) != 5 {
		t.Errorf("a read the leader site took for the site: it got %v; want it once more", leader.got)
	}
	local.empty = false

	// A body the edge buffered is sent again; a streamed one cannot be.
	leader.replay = false
	req := httptest.NewRequest("GET", "/search", strings.NewReader("q=tandem"))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("q=tandem")), nil }
	resp, err := r.RoundTrip(req)
	if err != nil || resp.Header.Get(SiteHeader) != "home" || leader.got[len(leader.got)-1] != "GET q=tandem" {
		t.Errorf("a GET with a buffered body: %v, served by %v, the leader site got %v; want it replayed with its body", err, resp, leader.got)
	}
	req = httptest.NewRequest("GET", "/search", strings.NewReader("q=tandem"))
	if _, err := r.RoundTrip(req); !errors.Is(err, errReplayBody) {
		t.Errorf("a GET with a streamed body: %v; want errReplayBody", err)
	}

	db.primary = true // an emergency: nowhere to replay, the header goes
	roundTrip(t, r, "GET", "", "all")
	if len(all.got) != 1 {
		t.Errorf("in an emergency the pool got %v; want the read once", all.got)
	}
}
