package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
)

// databaseStack is one node of a three-zone cluster whose PostgreSQL
// runs on nodes a and b; every node runs the wiki on it.
const databaseStack = `
cluster: { name: e2e, node: "{{node}}", zone: "{{zone}}", data_dir: "{{dir}}/data" }
edge:
  listen: "{{edge}}"
  cache: { memory: 0 }
admin: { listen: "{{admin}}" }
database:
  postgres:
    members: [node-a, node-b]
    port: {{pgport}}
    endpoint: { listen: "{{ip}}:{{dbport}}", hold: 10s }
    read_endpoint: { listen: off }
apps:
  web:
    command: ["{{wiki}}", "serve"]
    release: ["{{wiki}}", "migrate"]
    instances: 2
    health: { path: /healthz, interval: 300ms, timeout: 250ms, rise: 1, fall: 3, startup: 60s }
    retries: { hedge: false }
`

// dbStatus asks node n for the database's status.
func dbStatus(t *testing.T, n *clusterNode) admin.DatabaseStatus {
	t.Helper()
	out, code := n.run("db", "status", "--json")
	if code != 0 {
		t.Fatalf("tandem db status at %s: exit %d\n%s", n.name, code, out)
	}
	var st admin.DatabaseStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("decode db status: %v\n%s", err, out)
	}
	return st
}

// waitDatabase waits until node n sees leader as the primary and routes
// to it, with a synchronous standby streaming from it if standby.
func waitDatabase(t *testing.T, n *clusterNode, leader string, standby bool, timeout time.Duration) admin.DatabaseStatus {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := dbStatus(t, n)
		if st.Leader == leader && st.Primary != "" && !standby {
			return st
		}
		if st.Leader == leader && st.SyncStandby != "" && st.Primary != "" {
			for _, m := range st.Members {
				if m.Name == st.SyncStandby && m.Streaming && m.Sync == "sync" {
					return st
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the database at %s: no primary %q with a synchronous standby within %s: %+v", n.name, leader, timeout, st)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// wikiWriter saves pages through an edge, one after the other, and
// remembers which saves were acknowledged.
type wikiWriter struct {
	t    *testing.T
	base string
	c    *http.Client
	stop chan struct{}
	done chan struct{}

	mu     sync.Mutex // guards the fields below
	acked  []string   // texts of acknowledged saves
	failed []string   // why saves failed
}

func startWikiWriter(t *testing.T, edge string) *wikiWriter {
	jar, _ := cookiejar.New(nil)
	w := &wikiWriter{t: t, base: "http://" + edge, c: &http.Client{Jar: jar, Timeout: 60 * time.Second},
		stop: make(chan struct{}), done: make(chan struct{})}
	resp, err := w.c.PostForm(w.base+"/login", url.Values{"username": {"alice"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	go w.run()
	return w
}

func (w *wikiWriter) run() {
	defer close(w.done)
	for i := 0; ; i++ {
		select {
		case <-w.stop:
			return
		default:
		}
		title := "Page-" + strconv.Itoa(i%5)
		text := fmt.Sprintf("save %d of %s", i, title)
		err := w.save(title, text)
		w.mu.Lock()
		if err != nil {
			w.failed = append(w.failed, err.Error())
		} else {
			w.acked = append(w.acked, text)
		}
		w.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
}

// save saves a page the way the edit form does.
func (w *wikiWriter) save(title, text string) error {
	form, err := w.get("/wiki/" + title + "/edit")
	if err != nil {
		return err
	}
	csrf, rev := csrfRE.FindStringSubmatch(form), baseRE.FindStringSubmatch(form)
	if csrf == nil || rev == nil {
		return fmt.Errorf("edit form of %s without csrf or base", title)
	}
	resp, err := w.c.PostForm(w.base+"/wiki/"+title, url.Values{"csrf": {csrf[1]}, "base": {rev[1]}, "body": {text}, "comment": {text}})
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("save %s: HTTP %d", title, resp.StatusCode)
	}
	return nil
}

func (w *wikiWriter) get(path string) (string, error) {
	resp, err := w.c.Get(w.base + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: HTTP %d", path, resp.StatusCode)
	}
	return string(body), nil
}

func (w *wikiWriter) finish() (acked, failed []string) {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.acked, w.failed
}

func (w *wikiWriter) ackedCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

// TestDatabaseFailoverKeepsWikiWritable: the wiki on the stack's
// PostgreSQL, a primary on node a and a synchronous standby on node b,
// edited through node c's edge. SIGKILL of the primary's whole node (tandem
// and its postgres): b takes over within seconds, no save fails (they wait
// through the failover), every acknowledged save is in the database, and
// a started again rejoins as b's standby. Then a planned switchover moves
// the primary back, with no save failing either.
func TestDatabaseFailoverKeepsWikiWritable(t *testing.T) {
	t.Parallel()
	slow(t)
	pgport, dbport := freePortOn(t, "127.0.0.1"), freePortOn(t, "127.0.0.1")
	tmpl := strings.NewReplacer("{{pgport}}", strconv.Itoa(pgport), "{{dbport}}", strconv.Itoa(dbport)).Replace(databaseStack)
	nodes := startCluster(t, tmpl, "a", "b")
	a, c := nodes[0], nodes[2]
	waitDatabase(t, c, "node-a", true, 90*time.Second)

	w := startWikiWriter(t, c.edge)
	waitCount(t, w, 20, 60*time.Second)
	killed := time.Now()
	a.kill(t)
	st := waitDatabase(t, c, "node-b", false, 60*time.Second)
	t.Logf("primary on %s (%s) %s after the kill", st.Leader, st.LeaderCause, time.Since(killed).Round(time.Millisecond))
	base := w.ackedCount()
	waitCount(t, w, base+20, 60*time.Second)

	a.restart(t)
	rejoin := time.Now()
	waitDatabase(t, c, "node-b", true, 120*time.Second)
	for _, m := range dbStatus(t, c).Members {
		if m.Name == "node-a" && !(m.Streaming && m.Role == "standby") {
			t.Errorf("node-a after its restart: %+v; want a streaming standby", m)
		}
	}
	t.Logf("node-a streams again %s after its restart", time.Since(rejoin).Round(time.Millisecond))

	if out, code := c.run("db", "switchover", "--to", "node-a"); code != 0 || !strings.Contains(out, "node-a is the primary") {
		t.Errorf("tandem db switchover --to node-a: exit %d\n%s", code, out)
	}
	base = w.ackedCount()
	waitCount(t, w, base+20, 60*time.Second)
	acked, failed := w.finish()
	if len(failed) > 0 {
		t.Errorf("%d of %d saves failed, e.g. %q", len(failed), len(acked)+len(failed), failed[:min(3, len(failed))])
		for _, line := range strings.Split(c.stdout.String(), "\n") {
			if strings.Contains(line, `"status":5`) {
				t.Logf("node-c access log: %s", line)
			}
		}
	}
	// Every acknowledged save is there: each is a revision in its page's
	// history, which shows each revision's comment (the save's text).
	for i := range 5 {
		title := "Page-" + strconv.Itoa(i)
		history, err := w.get("/wiki/" + title + "/history")
		if err != nil {
			t.Fatal(err)
		}
		for _, text := range acked {
			if strings.HasSuffix(text, " of "+title) && !strings.Contains(history, text) {
				t.Errorf("acknowledged %q is not in %s's history", text, title)
			}
		}
	}
	t.Logf("%d saves acknowledged across a failover, a rejoin and a switchover; %d failed", len(acked), len(failed))
}

// waitCount waits until the writer has n acknowledged saves.
func waitCount(t *testing.T, w *wikiWriter, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for w.ackedCount() < n {
		if time.Now().After(deadline) {
			w.mu.Lock()
			failed := w.failed
			w.mu.Unlock()
			t.Fatalf("%d saves acknowledged within %s; want %d (failures: %q)", w.ackedCount(), timeout, n, failed[max(0, len(failed)-3):])
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// leaderTimeline is the timeline of the database's leader in st, 0 when
// no member leads.
func leaderTimeline(st admin.DatabaseStatus) uint32 {
	for _, m := range st.Members {
		if m.Leader {
			return m.Timeline
		}
	}
	return 0
}
