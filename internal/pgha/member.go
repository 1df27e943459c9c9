package pgha

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os/user"
	"sync"
	"time"

	"github.com/tandem-run/tandem/internal/atomicfile"
	"github.com/tandem-run/tandem/internal/cluster"
)

// Member runs one member of a PostgreSQL cluster: its postgres, its part
// in electing the primary, its record in the store. See the package
// comment.
type Member struct {
	opts   Options
	inst   Install
	l      layout
	log    *slog.Logger
	m      *Machine
	srv    *server
	keeper *leaseKeeper
	wake   chan struct{} // buffered: wakes the loop
	// halt, once closed, ends Run at once without stopping postgres or
	// giving up the lease: what a killed process leaves behind. Tests
	// use it to kill a node.
	halt     chan struct{}
	haltOnce sync.Once

	// Touched by the loop goroutine only.
	conn          *localConn
	role          role       // what postgres runs as, per the configuration written
	state         localState // persisted in state.json
	creds         *Credentials
	busy          ActionKind
	control       *controlData      // of the stopped data directory, cleared when it may change
	slotOwner     map[string]string // slot name -> member
	prevLead      string            // the leader last seen, for events
	sysid         uint64            // the data directory's, last seen
	lastStart     time.Time         // when postgres was last started
	deferredUntil time.Time         // when an action put off is due (errDeferred)
	diskFull      bool              // the data directory's filesystem was last seen full

	workers sync.WaitGroup // long actions
	results chan Result    // their ends

	mu       sync.Mutex // guards the fields below
	view     View
	raw      cluster.DatabaseState
	viewAt   time.Time // when the store was last read successfully
	viewRev  int64
	local    Local
	record   []byte // the record to publish
	failsafe bool
	lastErr  string
	diskMsg  string // says the data directory's filesystem is full; "" when not
	routes   Routes
	addrs    map[string]string // members' last published addresses
	routesCh chan struct{}     // closed and replaced when routes change
	publish  chan struct{}     // buffered: a new record to publish
	loadNow  chan struct{}     // buffered: read the store again
}

// localState is what a member remembers about its data directory across
// restarts.
type localState struct {
	// WasPrimary: the data directory ran as a primary since it was last
	// rewound or cloned.
	WasPrimary bool `json:"was_primary"`
}

// New checks opts and the machine (PostgreSQL's binaries, the postgres
// user, the data directory's owner) and returns a Member that has started
// nothing.
func New(opts Options) (*Member, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	inst, err := FindInstall(context.Background(), o.BinDir, o.OSUser)
	if err != nil {
		return nil, fmt.Errorf("postgres member %s: %w", o.Name, err)
	}
	l := layout{root: o.DataDir}
	if err := checkOwnership(l, inst); err != nil {
		return nil, fmt.Errorf("postgres member %s: %w", o.Name, err)
	}
	zones := map[string]string{o.Name: o.Zone}
	m, err := NewMachine(Config{Name: o.Name, Members: o.Members, Zones: zones, Site: o.Site, LeaderSite: o.LeaderSite,
		CrossSiteSync: o.CrossSiteSync, Synchronous: !o.Asynchronous, Strict: o.Strict, TTL: o.TTL})
	if err != nil {
		return nil, err
	}
	conn, err := newLocalConn(l, o.Port)
	if err != nil {
		return nil, err
	}
	mem := &Member{
		opts: o, inst: inst, l: l, log: o.Logger.With("member", o.Name), m: m, conn: conn,
		wake: make(chan struct{}, 1), halt: make(chan struct{}), results: make(chan Result, 4),
		slotOwner: make(map[string]string), routesCh: make(chan struct{}), publish: make(chan struct{}, 1), addrs: make(map[string]string),
		loadNow: make(chan struct{}, 1),
	}
	for _, n := range o.Members {
		mem.slotOwner[slotName(n)] = n
	}
	mem.srv = &server{inst: inst, l: l, exited: mem.wakeUp}
	mem.keeper = newLeaseKeeper(o.Store, o.TTL, o.Clock, mem.log, mem.wakeUp)
	return mem, nil
}

// Install returns the PostgreSQL installation the member runs.
func (m *Member) Install() Install { return m.inst }

func (m *Member) wakeUp() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Run runs the member until ctx ends, then stops PostgreSQL (a fast
// shutdown) and, if it leads, releases the lease so that a standby takes
// over at once. It returns an error only when the member cannot start.
func (m *Member) Run(ctx context.Context) error {
	if err := m.prepare(); err != nil {
		return fmt.Errorf("postgres member %s: %w", m.opts.Name, err)
	}
	// The background goroutines outlive ctx until postgres stopped and
	// the lease was released; long actions end with the loop.
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	loopCtx, stopLoop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { m.opts.Store.Watch(bg, m.storeChanged) })
	wg.Go(func() { m.loadLoop(bg) })
	wg.Go(func() { m.keeper.run(bg) })
	wg.Go(func() { m.publishLoop(bg) })
	m.loop(loopCtx)
	stopLoop()
	m.workers.Wait()
	if !m.halted() {
		m.shutdown()
	}
	cancel()
	wg.Wait()
	if !m.halted() {
		m.srv.wait()
	}
	return nil
}

// prepare creates the member's directories and the files that do not
// depend on the cluster.
func (m *Member) prepare() error {
	if err := prepareDirs(m.l, m.inst); err != nil {
		return err
	}
	tls := m.opts.TLS
	for _, f := range []struct {
		path string
		data []byte
	}{{m.l.caFile(), tls.CA}, {m.l.certFile(), tls.Cert}, {m.l.keyFile(), tls.Key}} {
		if err := writeOwned(f.path, f.data, 0o600, m.inst); err != nil {
			return fmt.Errorf("tls: %w", err)
		}
	}
	me, err := user.Current()
	if err != nil {
		return fmt.Errorf("current user: %w", err)
	}
	if err := writeOwned(m.l.identFile(), renderIdent(me.Username), 0o600, m.inst); err != nil {
		return err
	}
	if err := writeOwned(m.l.hbaFile(), m.opts.renderHBA(), 0o600, m.inst); err != nil {
		return err
	}
	st, err := readState(m.l.state())
	if err != nil {
		return err
	}
	m.state = st
	return nil
}

func readState(path string) (localState, error) {
	var st localState
	data, err := readFileIfExists(path)
	if err != nil || data == nil {
		return st, err
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("read %s: %w", path, err)
	}
	return st, nil
}

// setWasPrimary records whether the data directory ran as a primary.
func (m *Member) setWasPrimary(v bool) error {
	if m.state.WasPrimary == v {
		return nil
	}
	m.state.WasPrimary = v
	return atomicfile.WriteJSON(m.l.state(), m.state, 0o600)
}

// shutdown stops postgres and gives up the lease, within bounded time.
func (m *Member) shutdown() {
	leading := m.keeper.id() != 0
	if err := m.srv.stop(false, 30*time.Second); err != nil {
		m.log.Warn("postgres shutdown", "err", err)
	}
	m.conn.close()
	if leading {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := m.keeper.release(ctx); err != nil {
			m.log.Warn("leader lease not released; it expires by itself", "err", err)
		} else {
			m.log.Info("leader lease released")
		}
	}
}

// abandon makes Run return at once, leaving postgres running and the
// lease to expire, as if the process had been killed.
func (m *Member) abandon() { m.haltOnce.Do(func() { close(m.halt) }) }

func (m *Member) halted() bool {
	select {
	case <-m.halt:
		return true
	default:
		return false
	}
}

// storeChanged is the store watch's callback: read the store again now.
func (m *Member) storeChanged() {
	select {
	case m.loadNow <- struct{}{}:
	default:
	}
}
