package httpcache

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
)

// ban is a compiled PurgeBan.
type ban struct {
	gen  uint64 // purge generation: entries checked up to gen are past it
	host *regexp.Regexp
	path *regexp.Regexp
	soft bool
	ev   Event
}

func compileBan(ev Event) (*ban, error) {
	b := &ban{soft: ev.Soft, ev: ev}
	for _, x := range []struct {
		src string
		dst **regexp.Regexp
	}{{ev.Host, &b.host}, {ev.Path, &b.path}} {
		if x.src == "" {
			continue
		}
		if len(x.src) > maxPurgeRegexp {
			return nil, fmt.Errorf("ban expression: too long: %w", ErrBadPurge)
		}
		re, err := regexp.Compile(x.src)
		if err != nil {
			return nil, fmt.Errorf("ban expression %q: %w: %w", x.src, ErrBadPurge, err)
		}
		*x.dst = re
	}
	return b, nil
}

// matches reports whether the ban selects the primary key.
func (b *ban) matches(key string) bool {
	rest, ok := strings.CutPrefix(key, "http://")
	if !ok {
		rest, _ = strings.CutPrefix(key, "https://")
	}
	host, path := rest, "/"
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		host, path = rest[:i], rest[i:]
	}
	return (b.host == nil || b.host.MatchString(host)) && (b.path == nil || b.path.MatchString(path))
}

// banList is the list of bans not yet known to be applied everywhere.
// Lookups read it without locking; the lurker trims it once every stored
// entry has been checked against a ban.
type banList struct {
	cur atomic.Pointer[[]*ban] // ascending gen; replaced whole
	mu  sync.Mutex             // serializes writers of cur
}

func (l *banList) load() []*ban {
	if p := l.cur.Load(); p != nil {
		return *p
	}
	return nil
}

// add appends b with the generation gen returns; gen is called under
// the list's lock so that bans enter the list in generation order.
func (l *banList) add(b *ban, gen func() uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b.gen = gen()
	old := l.load()
	n := make([]*ban, 0, len(old)+1)
	n = append(append(n, old...), b)
	l.cur.Store(&n)
}

// trim drops the bans up to gen, which every entry has been checked
// against.
func (l *banList) trim(gen uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	old := l.load()
	i := 0
	for i < len(old) && old[i].gen <= gen {
		i++
	}
	n := append([]*ban(nil), old[i:]...)
	l.cur.Store(&n)
}

// check tests an entry stored at generation *gen against the newer bans
// and advances *gen. It reports whether a hard ban removes the entry and
// whether a soft one marks it stale.
func (l *banList) check(key string, gen *atomic.Uint64) (hard, soft bool) {
	bans := l.load()
	g := gen.Load()
	if len(bans) == 0 || bans[len(bans)-1].gen <= g {
		return false, false
	}
	for _, b := range bans {
		if b.gen <= g || !b.matches(key) {
			continue
		}
		if !b.soft {
			return true, false
		}
		soft = true
	}
	gen.Store(bans[len(bans)-1].gen)
	return false, soft
}

// banState is the persisted form of the ban list (disk tier only), so
// that bans not yet applied to files survive a restart.
type banState struct {
	Gen  uint64     `json:"gen"`
	Bans []savedBan `json:"bans"`
}

type savedBan struct {
	Gen   uint64 `json:"gen"`
	Event Event  `json:"event"`
}

func (l *banList) marshal(gen uint64) ([]byte, error) {
	st := banState{Gen: gen, Bans: []savedBan{}}
	for _, b := range l.load() {
		st.Bans = append(st.Bans, savedBan{Gen: b.gen, Event: b.ev})
	}
	return json.Marshal(st)
}

// restore loads persisted bans; it returns the saved generation.
func (l *banList) restore(data []byte) (uint64, error) {
	var st banState
	if err := json.Unmarshal(data, &st); err != nil {
		return 0, fmt.Errorf("decode bans: %w", err)
	}
	var bans []*ban
	for _, s := range st.Bans {
		b, err := compileBan(s.Event)
		if err != nil {
			return 0, fmt.Errorf("decode bans: %w", err)
		}
		b.gen = s.Gen
		bans = append(bans, b)
		st.Gen = max(st.Gen, s.Gen)
	}
	l.cur.Store(&bans)
	return st.Gen, nil
}
