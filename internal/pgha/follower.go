package pgha

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Follower follows the database from a node that holds no member: the
// routes its DB endpoints take, the database's status, the credentials
// apps connect with, and switchover requests. Members do the same
// themselves (*Member has the same methods).
type Follower struct {
	store    Store
	name     string
	where    place
	interval time.Duration
	fresh    time.Duration
	sync     bool
	log      *slog.Logger
	appUser  string

	mu       sync.Mutex // guards the fields below
	view     View
	viewAt   time.Time
	addrs    map[string]string // the members' last published addresses
	routes   Routes
	routesCh chan struct{} // closed and replaced when routes change
}

// FollowerOptions configure a Follower.
type FollowerOptions struct {
	// Name, Zone and Site are this node's; the zone and site pick the
	// nearest standby.
	Name, Zone, Site string
	// Store is the database's store (cluster.DatabaseStore).
	Store Store
	// Asynchronous says the database replicates asynchronously (status).
	Asynchronous bool
	// AppUser is the app's role; DefaultAppUser if "".
	AppUser string
	// TTL is the members' lease TTL (DefaultTTL if 0): a read of the
	// store older than half of it is not current.
	TTL time.Duration
	// Interval is how often the store is read besides its watch;
	// DefaultInterval if 0.
	Interval time.Duration
	// Logger receives the follower's log; nil discards it.
	Logger *slog.Logger
}

// NewFollower returns a follower that reads nothing until Run.
func NewFollower(o FollowerOptions) *Follower {
	if o.TTL <= 0 {
		o.TTL = DefaultTTL
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.AppUser == "" {
		o.AppUser = DefaultAppUser
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Follower{store: o.Store, name: o.Name, where: place{o.Zone, o.Site}, interval: o.Interval, fresh: max(3*o.Interval, o.TTL/2),
		sync: !o.Asynchronous, log: o.Logger, appUser: o.AppUser, addrs: map[string]string{}, routesCh: make(chan struct{})}
}

// Run reads the store whenever it changes, and every Interval, until ctx
// ends.
func (f *Follower) Run(ctx context.Context) error {
	changed := make(chan struct{}, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wg.Go(func() {
		f.store.Watch(ctx, func() {
			select {
			case changed <- struct{}{}:
			default:
			}
		})
	})
	t := time.NewTicker(f.interval)
	defer t.Stop()
	for {
		f.load(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-changed:
		}
	}
}

func (f *Follower) load(ctx context.Context) {
	lctx, cancel := context.WithTimeout(ctx, f.fresh)
	st, err := f.store.Load(lctx)
	cancel()
	if err != nil {
		f.log.Debug("database store unreachable", "err", err)
		return
	}
	v, errs := decodeView(st)
	for _, e := range errs {
		f.log.Warn("store value unreadable", "err", e)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.view, f.viewAt = v, time.Now()
	for n, rec := range v.Members {
		f.addrs[n] = rec.Addr
	}
	if r := routesOf(v, f.where, f.addrs); r != f.routes {
		f.routes = r
		close(f.routesCh)
		f.routesCh = make(chan struct{})
	}
}

// Routes returns where the DB endpoints should send connections now, and
// a channel closed when that changes; as Member.Routes.
func (f *Follower) Routes() (Routes, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.routes, f.routesCh
}

// Status returns the database as the store shows it; Role is "" (this
// node holds no member).
func (f *Follower) Status() Status {
	f.mu.Lock()
	v, at := f.view, f.viewAt
	f.mu.Unlock()
	fresh := !at.IsZero() && time.Since(at) < f.fresh
	st := buildStatus(f.name, f.where, f.sync, Local{}, v, fresh, false)
	st.Role = ""
	return st
}

// Credentials returns the database's generated roles; as Member.Credentials.
func (f *Follower) Credentials(ctx context.Context) (Credentials, error) {
	return loadCredentials(ctx, f.store, f.appUser)
}

// Switchover asks for a switchover; as Member.Switchover.
func (f *Follower) Switchover(ctx context.Context, to string) error {
	return switchover(ctx, f.store, time.Now, f.log, to)
}
