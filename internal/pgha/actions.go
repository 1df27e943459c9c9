package pgha

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/tandem-run/tandem/internal/cluster"
)

// perform does one action of the machine.
func (m *Member) perform(ctx context.Context, obs Observation, a Action) error {
	switch a.Kind {
	case ActClaimInit:
		return m.claimInit(ctx)
	case ActInitdb:
		c, err := m.credentials(ctx)
		if err != nil {
			return err
		}
		m.startLong(ctx, a.Kind, func(ctx context.Context) error { return m.initdb(ctx, c) })
	case ActFinishBootstrap:
		return m.finishBootstrap(ctx, obs)
	case ActClone:
		if _, err := m.credentials(ctx); err != nil { // the passfile
			return err
		}
		addr := obs.View.Members[a.Member].Addr
		m.startLong(ctx, a.Kind, func(ctx context.Context) error { return m.clone(ctx, addr) })
	case ActRewind:
		if _, err := m.credentials(ctx); err != nil {
			return err
		}
		// pg_rewind may first run crash recovery in single-user mode,
		// which must read tandem's settings (the control file records
		// them).
		if err := m.writeConf(m.role); err != nil {
			return err
		}
		if err := m.prepareData(); err != nil {
			return err
		}
		addr := obs.View.Members[a.Member].Addr
		m.startLong(ctx, a.Kind, func(ctx context.Context) error { return m.rewind(ctx, addr) })
	case ActCheckpoint:
		m.startLong(ctx, a.Kind, m.checkpoint)
	case ActStartPrimary:
		if err := m.setWasPrimary(true); err != nil {
			return err
		}
		return m.startPostgres(ctx, role{syncNames: m.role.syncNames})
	case ActStartStandby:
		r := role{standby: true, syncNames: m.role.syncNames}
		if addr := m.addrOf(a.Member); addr != "" {
			r.upstream, r.upstreamName = addr, a.Member
		}
		return m.startPostgres(ctx, r)
	case ActFollow:
		return m.follow(ctx, a.Member)
	case ActPromote:
		return m.promote(ctx)
	case ActStop:
		timeout := 30 * time.Second
		if a.Immediate {
			timeout = 5 * time.Second
		}
		err := m.srv.stop(a.Immediate, timeout)
		m.conn.close()
		m.control = nil
		return err
	case ActAcquire:
		return m.acquire(ctx, a)
	case ActRelease:
		return m.keeper.release(ctx)
	case ActForgetLease:
		m.keeper.forget()
	case ActSetSyncNames:
		return m.setSyncNames(ctx, a.Names)
	case ActWriteSync:
		return m.writeSync(ctx, a)
	case ActEnsureSlots:
		return m.ensureSlots(ctx, a.Names)
	case ActSwitchoverFail:
		return m.failSwitchover(ctx, a.Reason)
	case ActMarkFollower:
		return m.setWasPrimary(false)
	default:
		return fmt.Errorf("unknown action %v", a.Kind)
	}
	return nil
}

// startLong runs fn in the background; its end is fed to the machine.
// The machine starts one long action at a time. fn must not touch the
// loop's fields: what it needs is prepared before, what follows from it
// is done when its Result is taken (cycle).
func (m *Member) startLong(ctx context.Context, kind ActionKind, fn func(context.Context) error) {
	m.busy = kind
	m.workers.Go(func() {
		err := fn(ctx)
		m.results <- Result{Kind: kind, Err: err}
		m.wakeUp()
	})
}

// addrOf is a member's PostgreSQL address as it published it.
func (m *Member) addrOf(name string) string {
	if name == "" {
		return ""
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.view.Members[name].Addr
}

// storeCtx bounds one request to the store.
func (m *Member) storeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, m.opts.TTL/3)
}

func (m *Member) claimInit(ctx context.Context) error {
	ctx, cancel := m.storeCtx(ctx)
	defer cancel()
	val, _ := json.Marshal(initRecord{Holder: m.opts.Name})
	won, err := m.opts.Store.ClaimInitialize(ctx, val, m.opts.TTL)
	if err != nil {
		return err
	}
	if won {
		m.log.Info("bootstrapping the cluster")
	}
	m.storeChanged()
	return nil
}

// credentials returns the cluster's credentials, reading (or creating)
// them in the store once, and writes the passfile.
func (m *Member) credentials(ctx context.Context) (Credentials, error) {
	if m.creds != nil {
		return *m.creds, nil
	}
	ctx, cancel := m.storeCtx(ctx)
	defer cancel()
	c, err := loadCredentials(ctx, m.opts.Store, m.opts.AppUser)
	if err != nil {
		return c, err
	}
	if err := writeOwned(m.l.pgpass(), renderPgpass(c), 0o600, m.inst); err != nil {
		return c, err
	}
	m.creds = &c
	return c, nil
}

// acquire campaigns for the leader lease. The lease cannot expire before
// TTL after the request was sent, which is when the keeper counts from.
func (m *Member) acquire(ctx context.Context, a Action) error {
	sent := m.opts.Clock()
	leader, _ := json.Marshal(leaderRecord{Member: m.opts.Name, Cause: a.Reason, At: sent})
	var sync []byte
	if !m.opts.Asynchronous {
		sync, _ = json.Marshal(syncRecord{Leader: m.opts.Name, Standby: a.Member})
	}
	sctx, cancel := m.storeCtx(ctx)
	defer cancel()
	lease, err := m.opts.Store.Campaign(sctx, m.opts.TTL, leader, a.SyncRev, sync)
	if errors.Is(err, cluster.ErrConflict) {
		m.log.Info("leader lease taken by another member first")
		m.storeChanged()
		return nil
	}
	if err != nil {
		return err
	}
	m.keeper.hold(lease, sent)
	m.log.Info("leader lease acquired", "cause", a.Reason)
	m.storeChanged()
	return nil
}

func (m *Member) writeSync(ctx context.Context, a Action) error {
	lease := m.keeper.id()
	if lease == 0 {
		return errors.New("write sync key: no lease")
	}
	val, _ := json.Marshal(syncRecord{Leader: m.opts.Name, Standby: a.Member})
	ctx, cancel := m.storeCtx(ctx)
	defer cancel()
	if err := m.opts.Store.PutSync(ctx, lease, val, a.SyncRev); err != nil {
		return err
	}
	m.log.Info("sync key written", "standby", a.Member, "reason", a.Reason)
	m.storeChanged()
	return nil
}

func (m *Member) failSwitchover(ctx context.Context, reason string) error {
	m.mu.Lock()
	raw := m.raw.Switchover
	m.mu.Unlock()
	var req SwitchoverRequest
	if err := json.Unmarshal(raw.Value, &req); err != nil {
		return fmt.Errorf("switchover request: %w", err)
	}
	req.Error = reason
	val, _ := json.Marshal(req)
	ctx, cancel := m.storeCtx(ctx)
	defer cancel()
	m.log.Warn("switchover refused", "reason", reason)
	return m.opts.Store.PutSwitchover(ctx, val, raw.Revision)
}

// writeConf writes tandem's postgresql.conf for r.
func (m *Member) writeConf(r role) error {
	m.role = r
	return writeOwned(m.l.confFile(), renderConf(m.opts.settings(m.l, r)), 0o600, m.inst)
}

// reload makes a running postgres read its configuration again.
func (m *Member) reload(ctx context.Context) error {
	if !m.srv.running() {
		return nil
	}
	return m.conn.exec(ctx, queryTimeout, "SELECT pg_reload_conf()")
}

// minRestart spaces the starts of postgres: one that exits at once
// (its port taken, a broken setting) is not restarted in a hot loop.
const minRestart = time.Second

// errDeferred is an action put off until m.deferredUntil: the loop
// looks again then, not at once.
var errDeferred = errors.New("deferred")

// startPostgres writes the configuration for r and starts postgres.
func (m *Member) startPostgres(ctx context.Context, r role) error {
	if since := time.Since(m.lastStart); since < minRestart {
		m.deferredUntil = m.lastStart.Add(minRestart)
		return errDeferred // the machine asks again then
	}
	if _, err := m.credentials(ctx); err != nil {
		if _, serr := os.Stat(m.l.pgpass()); serr != nil {
			return fmt.Errorf("start postgres: %w", err)
		}
		// Without the store, the passfile written before will do.
	}
	if err := m.writeConf(r); err != nil {
		return err
	}
	if err := m.prepareData(); err != nil {
		return err
	}
	if r.standby {
		if err := writeOwned(m.l.standbySignal(), nil, 0o600, m.inst); err != nil {
			return err
		}
	} else if err := os.Remove(m.l.standbySignal()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("start postgres: %w", err)
	}
	m.control, m.lastStart = nil, time.Now()
	if err := m.srv.start(); err != nil {
		return err
	}
	// PostgreSQL 15's checkpointer, which forces archive_timeout's
	// segment switches, sleeps a whole checkpoint_timeout after a start
	// before it first looks at archive_timeout; a reload wakes it. The
	// first observation that reaches the started server sends it.
	m.conn.reloadPending = m.opts.Archive.Timeout > 0
	return nil
}

// prepareData re-asserts tandem's settings in the data directory: the
// postgresql.conf that includes tandem's, and no owned setting in postgresql.auto.conf (a
// rewind or base backup copies the source's).
func (m *Member) prepareData() error {
	if err := writeOwned(m.l.data()+"/postgresql.conf", m.l.dataConf(), 0o600, m.inst); err != nil {
		return err
	}
	auto, err := readFileIfExists(m.l.autoConf())
	if err != nil || auto == nil {
		return err
	}
	clean, dropped := sanitizeAutoConf(auto)
	if len(dropped) == 0 {
		return nil
	}
	m.log.Warn("settings tandem owns removed from postgresql.auto.conf (ALTER SYSTEM)", "settings", dropped)
	return writeOwned(m.l.autoConf(), clean, 0o600, m.inst)
}

func (m *Member) follow(ctx context.Context, member string) error {
	addr := m.addrOf(member)
	if addr == "" {
		return fmt.Errorf("follow %s: its address is not known yet", member)
	}
	if err := m.writeConf(role{standby: true, upstream: addr, upstreamName: member, syncNames: m.role.syncNames}); err != nil {
		return err
	}
	return m.reload(ctx)
}

func (m *Member) promote(ctx context.Context) error {
	if err := m.setWasPrimary(true); err != nil {
		return err
	}
	// pg_promote waits (up to 10s) until the server accepts writes.
	if err := m.conn.exec(ctx, 12*time.Second, "SELECT pg_promote(true, 10)"); err != nil {
		return fmt.Errorf("promote: %w", err)
	}
	m.log.Info("promoted to primary")
	return nil
}

func (m *Member) setSyncNames(ctx context.Context, names []string) error {
	r := m.role
	r.syncNames = ""
	if len(names) > 0 {
		r.syncNames = names[0]
	}
	if err := m.writeConf(r); err != nil {
		return err
	}
	m.log.Info("synchronous_standby_names set", "value", syncNamesSetting(r.syncNames))
	return m.reload(ctx)
}

func (m *Member) ensureSlots(ctx context.Context, members []string) error {
	var want []string
	for _, n := range members {
		want = append(want, slotName(n))
		err := m.conn.exec(ctx, queryTimeout, `SELECT pg_create_physical_replication_slot($1, true)
			WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)`, slotName(n))
		if err != nil {
			return fmt.Errorf("create slot for %s: %w", n, err)
		}
	}
	err := m.conn.exec(ctx, queryTimeout, `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
		WHERE slot_type = 'physical' AND slot_name LIKE 'tandem\_%' AND NOT active AND slot_name <> ALL($1)`, want)
	if err != nil {
		return fmt.Errorf("drop slots of removed members: %w", err)
	}
	return nil
}
