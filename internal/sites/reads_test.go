package sites

import (
	"context"
	"errors"
	"fmt"
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
// with ErrNoTarget when it has no instance.
type fakeSite struct {
	name  string
	empty bool
	got   []string // methods received
}

func (s *fakeSite) RoundTrip(req *http.Request) (*http.Response, error) {
	if s.empty {
		return nil, fmt.Errorf("pool web: %w", balance.ErrNoTarget)
	}
	s.got = append(s.got, req.Method)
	rec := httptest.NewRecorder()
	rec.WriteString(s.name)
	return rec.Result(), nil
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
