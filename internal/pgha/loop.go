package pgha

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"
	"time"
)

// loop runs the member's cycles until ctx ends: on every wake-up (a
// store change, postgres exiting, a long action ending), every Interval,
// and at the lease deadline.
func (m *Member) loop(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.halt:
			return
		case <-m.wake:
		case <-timer.C:
		}
		m.cycle(ctx)
		next := m.opts.Interval
		if m.switchoverPending() {
			// Writes pause while the primary hands over: look often.
			next = switchoverInterval
		}
		if !m.deferredUntil.IsZero() {
			if until := time.Until(m.deferredUntil); until < next {
				next = max(until, 10*time.Millisecond)
			}
			m.deferredUntil = time.Time{}
		}
		if d, ok := m.m.Deadline(m.keeper.state()); ok {
			if until := d.Sub(m.opts.Clock()); until < next {
				next = max(until, 10*time.Millisecond)
			}
		}
		timer.Reset(next)
	}
}

// switchoverInterval is the loop's period while a switchover is pending.
const switchoverInterval = 50 * time.Millisecond

// switchoverPending reports whether the store shows a switchover request
// nobody answered yet.
func (m *Member) switchoverPending() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.view.Switchover
	return r != nil && r.Error == ""
}

// cycle observes, steps the machine and performs its actions.
func (m *Member) cycle(ctx context.Context) {
	var done []Result
	for drained := false; !drained; {
		select {
		case r := <-m.results:
			done = append(done, r)
			m.busy, m.control = 0, nil // the data directory may have changed
		default:
			drained = true
		}
	}
	for _, r := range done {
		if r.Err != nil {
			m.log.Error("action failed", "action", r.Kind.String(), "err", r.Err)
			m.setErr(r.Kind, r.Err)
			continue
		}
		m.log.Info("action done", "action", r.Kind.String())
		m.setErr(r.Kind, nil)
		if r.Kind == ActRewind || r.Kind == ActClone {
			// The directory now holds only the source's history.
			if err := m.setWasPrimary(false); err != nil {
				m.log.Error("state file", "err", err)
			}
		}
	}
	now := m.opts.Clock()
	local := m.observe(ctx)
	view := m.currentView(now)
	obs := Observation{Now: now, Local: local, View: view, Lease: m.keeper.state(), Busy: m.busy, Done: done}
	acts := m.m.Step(obs)
	performed := 0
	for _, a := range acts {
		err := m.perform(ctx, obs, a)
		if errors.Is(err, errDeferred) {
			continue // asked again when the loop's timer says
		}
		if !a.Kind.writesStore() {
			performed++
		}
		if a.Kind != ActEnsureSlots && a.Kind != ActSetSyncNames {
			m.log.Info("action", "action", a.String(), "reason", a.Reason)
		}
		if err != nil {
			m.log.Warn("action failed", "action", a.String(), "err", err)
			m.setErr(a.Kind, err)
		}
	}
	if performed > 0 {
		// Look again at once: promotions and starts change the state. An
		// action that only wrote to the store wakes the loop when the
		// store's change is read back; a look before would see the old
		// view and do it again.
		m.wakeUp()
	}
	m.after(obs, acts)
}

func (m *Member) setErr(kind ActionKind, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		m.lastErr = kind.String() + ": " + err.Error()
	} else if strings.HasPrefix(m.lastErr, kind.String()+":") {
		m.lastErr = ""
	}
}

// observe looks at the local PostgreSQL.
func (m *Member) observe(ctx context.Context) Local {
	l := Local{WasPrimary: m.state.WasPrimary, Upstream: m.role.upstreamName, SyncNames: m.role.syncNames}
	// A statfs is cheap: every cycle, so that a member stopped on a full
	// disk sees at once that space was freed.
	l.DiskFull = m.checkDisk()
	ok, err := hasData(m.l)
	if err != nil {
		m.log.Warn("data directory unreadable", "err", err)
	}
	if !ok {
		m.conn.close()
		m.control, m.sysid = nil, 0
		l.State = PGAbsent
		return l
	}
	if !m.srv.running() {
		m.conn.close()
		if exit := m.srv.takeExit(); exit != "" {
			m.log.Warn("postgres exited", "how", exit)
		}
		l.State = PGStopped
		if m.control == nil {
			cd, err := m.srv.controlData(ctx)
			if err != nil {
				m.log.Warn("pg_controldata", "err", err)
			} else {
				m.control = &cd
			}
		}
		if m.control != nil {
			l.SysID, l.CheckpointLSN, l.Timeline = m.control.SysID, m.control.Checkpoint, m.control.Timeline
			m.sysid = l.SysID
		}
		return l
	}
	m.control = nil
	if err := m.conn.observeRunning(ctx, &l, m.slotOwner); err != nil {
		l.State, l.SysID = PGStarting, m.sysid
		return l
	}
	m.sysid = l.SysID
	return l
}

// currentView returns the last view read and whether it is fresh.
func (m *Member) currentView(now time.Time) View {
	m.mu.Lock()
	defer m.mu.Unlock()
	v := m.view
	v.Fresh = !m.viewAt.IsZero() && now.Sub(m.viewAt) < m.freshFor()
	return v
}

// freshFor is how long a read of the store counts as current.
func (m *Member) freshFor() time.Duration { return max(3*m.opts.Interval, m.opts.TTL/2) }

// loadLoop reads the store every Interval and whenever the watch says it
// changed, until ctx ends.
func (m *Member) loadLoop(ctx context.Context) {
	t := time.NewTicker(m.opts.Interval)
	defer t.Stop()
	for {
		m.load(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.loadNow:
		}
	}
}

func (m *Member) load(ctx context.Context) {
	lctx, cancel := context.WithTimeout(ctx, m.opts.TTL/3)
	st, err := m.opts.Store.Load(lctx)
	cancel()
	if err != nil {
		m.log.Debug("store unreachable", "err", err)
		return
	}
	v, errs := decodeView(st)
	for _, e := range errs {
		m.log.Warn("store value unreadable", "err", e)
	}
	m.mu.Lock()
	changed := digest(v) != digest(m.view)
	m.view, m.raw, m.viewAt = v, st, m.opts.Clock()
	for n, rec := range v.Members {
		m.addrs[n] = rec.Addr
	}
	if r := routesOf(v, place{m.opts.Zone, m.opts.Site}, m.addrs); r != m.routes {
		m.routes = r
		close(m.routesCh)
		m.routesCh = make(chan struct{})
	}
	m.mu.Unlock()
	if changed {
		m.wakeUp()
	}
}

// digest is what of a view the machine decides on, without the LSNs that
// change with every commit.
func digest(v View) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%+v|%+v|%v|%v", v.Leader, v.Init, v.Sync, v.Switchover != nil, v.Emergency != nil)
	for _, n := range slices.Sorted(maps.Keys(v.Members)) {
		r := v.Members[n]
		fmt.Fprintf(&b, "|%s:%s:%v:%s", n, r.State, r.Streaming, r.Addr)
	}
	return b.String()
}

// publishLoop puts the member's record in the store when it changes and
// often enough to keep its lease, until ctx ends.
func (m *Member) publishLoop(ctx context.Context) {
	t := time.NewTicker(m.opts.TTL / 4)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.publish:
		}
		m.mu.Lock()
		rec := m.record
		m.mu.Unlock()
		if rec == nil {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, m.opts.TTL/3)
		if err := m.opts.Store.PutMember(pctx, m.opts.Name, rec, m.opts.TTL); err != nil {
			m.log.Debug("member record not published", "err", err)
		}
		cancel()
	}
}

// after publishes the member's record and reports leadership changes.
func (m *Member) after(obs Observation, acts []Action) {
	rec := MemberRecord{
		Name: m.opts.Name, Zone: m.opts.Zone, Site: m.opts.Site, Addr: fmt.Sprintf("%s:%d", m.opts.Advertise, m.opts.AdvertisePort),
		State: obs.Local.State.String(), SysID: obs.Local.SysID, Timeline: obs.Local.Timeline,
		CheckpointTimeline: obs.Local.CheckpointTimeline,
		LSN:                obs.Local.LSN, Replay: obs.Local.ReplayLSN, Upstream: obs.Local.Upstream,
		Streaming: obs.Local.Streaming, Replicas: obs.Local.Replicas, DiskFull: obs.Local.DiskFull, Updated: obs.Now,
	}
	if obs.Busy != 0 {
		rec.Activity = obs.Busy.String()
	} else if m.busy != 0 {
		rec.Activity = m.busy.String()
	}
	data, _ := json.Marshal(rec)
	m.mu.Lock()
	changed := string(data) != string(m.record)
	m.record, m.local = data, obs.Local
	wasFailsafe := m.failsafe
	m.failsafe = m.m.Failsafe()
	m.mu.Unlock()
	if changed {
		select {
		case m.publish <- struct{}{}:
		default:
		}
	}
	m.events(obs, acts, wasFailsafe)
}

// events reports leader changes seen in the store, and this member's
// demotions and failsafe.
func (m *Member) events(obs Observation, acts []Action, wasFailsafe bool) {
	emit := func(e Event) {
		e.Time = obs.Now
		if m.opts.OnEvent != nil {
			m.opts.OnEvent(e) // the owner logs it
			return
		}
		m.log.Info("database event", "kind", string(e.Kind), "member", e.Member, "from", e.From, "cause", e.Cause)
	}
	v := obs.View
	if v.Fresh && v.Leader != "" && v.Leader != m.prevLead {
		kind := EventFailover
		switch {
		case strings.HasPrefix(v.LeaderCause, "bootstrap"):
			kind = EventBootstrap
		case strings.HasPrefix(v.LeaderCause, "switchover"):
			kind = EventSwitchover
		case strings.HasPrefix(v.LeaderCause, "emergency"):
			kind = EventEmergency
		}
		if m.prevLead != "" || kind != EventFailover {
			emit(Event{Kind: kind, Member: v.Leader, From: m.prevLead, Cause: v.LeaderCause})
		}
	}
	if v.Fresh && v.Leader != "" {
		m.prevLead = v.Leader
	}
	for _, a := range acts {
		if a.Kind == ActForgetLease && obs.Local.State == PGPrimary && !m.m.Failsafe() ||
			a.Kind == ActRelease && obs.Lease.Held && obs.Local.DiskFull {
			emit(Event{Kind: EventDemoted, Member: m.opts.Name, Cause: a.Reason})
		}
	}
	if fs := m.m.Failsafe(); fs != wasFailsafe {
		cause := "the store is back"
		if fs {
			cause = "store unreachable; the synchronous standby streams: staying primary"
		}
		emit(Event{Kind: EventFailsafe, Member: m.opts.Name, Cause: cause})
	}
}

func readFileIfExists(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return data, err
}
