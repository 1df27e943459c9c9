package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
)

// readsStack is a node of TestSitesReadsLocal: the wiki on PostgreSQL,
// its primary at home-1 (the leader site) and an asynchronous standby at
// cloud-1 (the follower site), whose own wiki instance serves the reads.
const readsStack = `
cluster: { name: reads, node: "{{node}}", zone: "{{zone}}", site: "{{site}}", data_dir: "{{dir}}/data", advertise: "{{ip}}" }
edge:
  listen: "{{ip}}:8080"
  cache: { memory: 32MiB }
  purge: { allow: ["127.0.0.0/8", "10.0.0.0/8"] } # the wiki purges through the edge's address
  routes: [{ path: /, app: web }]
admin: { listen: "{{ip}}:7070", tls: { cert: "{{cert}}", key: "{{key}}" } }
sites: { leader: home, emergency_after: 2s }
database:
  postgres:
    members: [home-1, cloud-1]
    synchronous: false
    endpoint: { hold: 10s }
    read_endpoint: { listen: "off" }
apps:
  web:
    command: ["{{wiki}}", "serve"]
    release: ["{{wiki}}", "migrate"]
    instances: 1
    critical: true
    sites: { cloud: { instances: 1, reads: local } }
    health: { path: /healthz, interval: 300ms, timeout: 250ms, rise: 1, fall: 3, startup: 60s }
    retries: { hedge: false }
`

// readsWitnessStack is the witness of TestSitesReadsLocal.
const readsWitnessStack = `
cluster: { name: reads, node: "{{node}}", zone: "{{zone}}", site: "{{site}}", data_dir: "{{dir}}/data", advertise: "{{ip}}", witness: true }
admin: { listen: "{{ip}}:7070", tls: { cert: "{{cert}}", key: "{{key}}" } }
sites: { leader: home, emergency_after: 2s }
`

// TestSitesReadsLocal runs a leader site (home-1: the primary and a wiki
// instance) and a follower site whose reads are local (cloud-1: a
// standby and a wiki instance reading from it), each node in a network
// namespace of its own. Through cloud-1's edge, a user logs in and saves
// pages (forwarded to home) and reads each at once: every read shows the
// save, served by home while cloud's standby has not replayed it
// (Tandem-Site), by cloud once it has; an anonymous reader is served by
// cloud's instance, through the site endpoint. Then home goes dark: in
// the emergency (declared with a witness in a third place) cloud's
// standby is promoted in place and the same instance takes the saves.
func TestSitesReadsLocal(t *testing.T) {
	slow(t)
	t.Parallel()
	if _, err := os.Stat("/usr/lib/postgresql"); err != nil {
		t.Skip("needs PostgreSQL (Debian's postgresql package)")
	}
	lab := newNetLab(t)
	ca := newTestCA(t)
	home1 := startSiteNode(t, lab.addNode(labHome, 1), ca, "", "home-1", "home", readsStack, "")
	home1.waitStatus("home-1 serving on its primary", 3*time.Minute, func(st admin.Status) bool {
		return appHealthy(st, "web", 1) && st.Database != nil && st.Database.Leader == "home-1" && st.Database.Primary != ""
	})
	tok, err := home1.api.JoinToken(t.Context(), 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	cloud1 := startSiteNode(t, lab.addNode(labCloud, 1), ca, "", "cloud-1", "cloud", readsStack, tok.Token)
	cloud1.waitStatus("cloud-1's standby streaming and its instance healthy", 3*time.Minute, func(st admin.Status) bool {
		if !appHealthy(st, "web", 1) || st.Database == nil {
			return false
		}
		for _, m := range st.Database.Members {
			if m.Name == "cloud-1" && m.Streaming {
				return true
			}
		}
		return false
	})

	witness := startSiteNode(t, lab.addNode(labWitness, 1), ca, "", "witness-1", "witness", readsWitnessStack, tok.Token)
	witness.waitStatus("the witness up", 3*time.Minute, func(st admin.Status) bool { return st.Cluster != nil && st.Cluster.Quorum })

	u := newReadsUser(t, cloud1.edge())
	fromHome := 0
	var lastSave time.Time
	for i := range 5 {
		title, text := fmt.Sprintf("Local-%d", i), fmt.Sprintf("saved through cloud, %d", i)
		if site := u.save(title, text); site != "home" {
			t.Errorf("save %s: served by site %q; want home", title, site)
		}
		lastSave = time.Now()
		body, site := u.get("/wiki/" + title)
		if !strings.Contains(body, text) {
			t.Fatalf("GET %s at once after its save (served by %q): the save is missing", title, site)
		}
		if site == "home" {
			fromHome++
		}
	}
	if fromHome == 0 {
		t.Errorf("no read right after a save was served by home: the cookie never sent one to the leader site")
	}
	t.Logf("reads right after their save: %d of 5 served by home (cloud's standby had not replayed the save yet)", fromHome)

	deadline := time.Now().Add(15 * time.Second)
	for {
		body, site := u.get("/wiki/Local-4")
		if !strings.Contains(body, "saved through cloud, 4") {
			t.Fatalf("GET Local-4 (served by %q): the save is missing", site)
		}
		if site == "cloud" {
			t.Logf("the writer's reads served by cloud again %s after its last save", time.Since(lastSave).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the writer's reads still served by %q 15s after its last save; want cloud once its standby replayed it", site)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// cloud's instance reads through the site endpoint, from cloud's
	// standby.
	metrics := adminMetrics(t, cloud1, ca)
	for _, series := range []string{`tandem_db_endpoint_routed{endpoint="site"} 1`, `tandem_db_endpoint_relayed_total{endpoint="site"}`} {
		if !strings.Contains(metrics, series) {
			t.Errorf("cloud-1's /metrics has no %s", series)
		}
	}
	if strings.Contains(metrics, `tandem_db_endpoint_relayed_total{endpoint="site"} 0`) {
		t.Errorf("cloud-1's site endpoint relayed no connection; want its instance's")
	}
	anon := &readsUser{t: t, base: u.base, c: &http.Client{Timeout: 30 * time.Second}}
	if body, site := anon.get("/wiki/Local-0"); site != "cloud" || !strings.Contains(body, "saved through cloud, 0") {
		t.Errorf("an anonymous GET of Local-0: served by %q; want cloud, with the save", site)
	}

	lab.isolate(labHome)
	cutAt := time.Now()
	cloud1.waitStatus("the emergency at cloud-1", time.Minute, func(st admin.Status) bool {
		return st.Sites != nil && st.Sites.Emergency != nil && st.Database != nil && st.Database.Leader == "cloud-1" && st.Database.Primary != ""
	})
	var err2 error
	for deadline := time.Now().Add(30 * time.Second); ; {
		if err2 = u.trySave("Emergency", "saved in the emergency"); err2 == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no save through cloud-1 acknowledged 30s into the emergency: %v", err2)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("home dark: a save through cloud-1 acknowledged %s after the cut", time.Since(cutAt).Round(time.Millisecond))
	if body, _ := u.get("/wiki/Emergency"); !strings.Contains(body, "saved in the emergency") {
		t.Errorf("GET Emergency after its save in the emergency: the save is missing")
	}
}

// readsUser is a browser logged in to the wiki through one edge.
type readsUser struct {
	t    *testing.T
	base string
	c    *http.Client
}

// newReadsUser logs in through edge; the login, a write, is forwarded to
// the leader site and sets the tandem-lsn cookie.
func newReadsUser(t *testing.T, edge string) *readsUser {
	jar, _ := cookiejar.New(nil)
	u := &readsUser{t: t, base: "http://" + edge, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		// The test reads the page a save redirects to itself, as the
		// browser would at once.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	resp, err := u.c.PostForm(u.base+"/login", url.Values{"username": {"alice"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	base, _ := url.Parse(u.base)
	if !slicesHasCookie(jar.Cookies(base), "tandem-lsn") {
		t.Fatalf("login through the follower: cookies %v; want tandem-lsn", jar.Cookies(base))
	}
	return u
}

func slicesHasCookie(cs []*http.Cookie, name string) bool {
	for _, c := range cs {
		if c.Name == name {
			return true
		}
	}
	return false
}

// save saves a page the way the edit form does and returns the site that
// took the save; the page it redirects to is not read.
func (u *readsUser) save(title, text string) string {
	site, err := u.saveSite(title, text)
	if err != nil {
		u.t.Fatal(err)
	}
	return site
}

// trySave is save, returning its failure.
func (u *readsUser) trySave(title, text string) error {
	_, err := u.saveSite(title, text)
	return err
}

func (u *readsUser) saveSite(title, text string) (string, error) {
	form, _, err := u.tryGet("/wiki/" + title + "/edit")
	if err != nil {
		return "", err
	}
	csrf, rev := csrfRE.FindStringSubmatch(form), baseRE.FindStringSubmatch(form)
	if csrf == nil || rev == nil {
		return "", fmt.Errorf("edit form of %s without csrf or base", title)
	}
	resp, err := u.c.PostForm(u.base+"/wiki/"+title, url.Values{"csrf": {csrf[1]}, "base": {rev[1]}, "body": {text}, "comment": {text}})
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return "", fmt.Errorf("save %s: HTTP %d; want 303 to the page", title, resp.StatusCode)
	}
	return resp.Header.Get("Tandem-Site"), nil
}

// get returns the page at path and the site that served it.
func (u *readsUser) get(path string) (body, site string) {
	body, site, err := u.tryGet(path)
	if err != nil {
		u.t.Fatal(err)
	}
	return body, site
}

func (u *readsUser) tryGet(path string) (body, site string, err error) {
	resp, err := u.c.Get(u.base + path)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", "", err
	}
	site = resp.Header.Get("Tandem-Site")
	if resp.StatusCode != http.StatusOK {
		return "", site, fmt.Errorf("GET %s: HTTP %d (site %q)", path, resp.StatusCode, site)
	}
	return string(b), site, nil
}

// adminMetrics reads n's /metrics.
func adminMetrics(t *testing.T, n *siteNode, ca *testCA) string {
	t.Helper()
	tok, err := os.ReadFile(n.tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "https://"+n.lab.ip+":7070/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool}}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics of %s: HTTP %d, %v", n.name, resp.StatusCode, err)
	}
	return string(b)
}
