package backuprun

import (
	"cmp"
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
)

// Each node publishes its part of the backups' state in a cluster record
// (its archiver's state on a database member, and the backup alarms it
// raised) and reads the others', so that tandem status, the status page
// and tandem db backups on any node show every member's archiving and
// every alarm, wherever it was raised.
const (
	nodeRecordKind = "backup-node"
	// peersEvery is how often a node publishes and reads (the archiver
	// checks the store every 15 s).
	peersEvery = 15 * time.Second
	// peerAlarmsFor is how long a node's published alarms count: a node
	// that stopped publishing (it is down) raises nothing any more.
	peerAlarmsFor = 4 * peersEvery
)

// nodeRecord is what a node publishes.
type nodeRecord struct {
	Node string    `json:"node"`
	At   time.Time `json:"at"`
	// Archive is its archiver's state; nil on a node without one, or
	// before it checked the store.
	Archive *admin.ArchiveInfo  `json:"archive,omitempty"`
	Alarms  []admin.BackupAlarm `json:"alarms"`
}

// peers holds the other nodes' records as last read.
type peers struct {
	mu     sync.Mutex // guards byNode
	byNode map[string]nodeRecord
}

func (p *peers) set(recs map[string]nodeRecord) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.byNode = recs
}

func (p *peers) get() map[string]nodeRecord {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.byNode
}

// alarms returns own, this node's alarms, and the fresh ones of the
// others, each naming its node, by node then name.
func (p *peers) alarms(self string, own []admin.BackupAlarm, now time.Time) []admin.BackupAlarm {
	out := make([]admin.BackupAlarm, 0, len(own))
	for _, a := range own {
		a.Node = self
		out = append(out, a)
	}
	recs := p.get()
	for _, name := range slices.Sorted(maps.Keys(recs)) {
		r := recs[name]
		if name == self || now.Sub(r.At) > peerAlarmsFor {
			continue
		}
		for _, a := range r.Alarms {
			a.Node = name
			out = append(out, a)
		}
	}
	slices.SortStableFunc(out, func(a, b admin.BackupAlarm) int {
		return cmp.Or(strings.Compare(a.Node, b.Node), strings.Compare(a.Name, b.Name))
	})
	return out
}

// archivers returns every database member's archiver: this node's, own,
// now; the others' as they last published it. A member that never
// published is left out.
func (p *peers) archivers(self string, own *admin.ArchiveInfo, members []string) []admin.ArchiveInfo {
	recs := p.get()
	var out []admin.ArchiveInfo
	for _, m := range members {
		var a *admin.ArchiveInfo
		if m == self {
			a = own
		} else if r, ok := recs[m]; ok {
			a = r.Archive
		}
		if a != nil {
			info := *a
			info.Node = m
			out = append(out, info)
		}
	}
	return out
}

// publish publishes this node's record and reads the others'.
func (r *Runtime) publish(ctx context.Context) {
	rec := nodeRecord{Node: r.o.Node, At: time.Now(), Alarms: r.alarms.list()}
	if r.archiver != nil {
		if st := r.archiver.Status(); !st.StoreCheckedAt.IsZero() {
			rec.Archive = admin.ArchiveInfoOf(&st)
			rec.Archive.Node = rec.Node
		}
	}
	data, err := json.Marshal(rec)
	if err == nil {
		err = r.o.Cluster.PutRecord(ctx, nodeRecordKind, rec.Node, data)
	}
	if err != nil {
		r.log.Debug("backup state not published", "err", err)
	}
	raw, err := r.o.Cluster.Records(ctx, nodeRecordKind)
	if err != nil {
		r.log.Debug("the other nodes' backup state not read", "err", err)
		return
	}
	recs := make(map[string]nodeRecord, len(raw))
	for id, data := range raw {
		var rec nodeRecord
		if json.Unmarshal(data, &rec) == nil {
			recs[id] = rec
		}
	}
	r.peers.set(recs)
}
