package sites

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/tandem-run/tandem/internal/balance"
	"github.com/tandem-run/tandem/internal/pgha"
)

// SiteHeader names, on the responses of an app whose reads a follower
// site serves (apps.X.sites.S.reads: local), the site whose instances
// served it.
const SiteHeader = "Tandem-Site"

// ReplayHeader is the response field by which an instance that serves a
// GET or HEAD on a follower site (apps.X.sites.S.reads: local) says that
// the request writes: Reads discards its answer and sends the request to
// the leader site as a write, as fly.io's fly-replay replays a request in
// another region. Its value is "leader". It has no other effect: the
// edge removes it from every response, at any site.
const ReplayHeader = balance.ReplayHeader

// replayDrainBytes bounds what Reads reads of a discarded answer's body,
// so that its connection can carry another request; a longer body is
// closed unread.
const replayDrainBytes = 64 << 10

// errReplayBody is the error for a request to replay whose body was
// streamed to the site's instance and cannot be sent again.
var errReplayBody = errors.New("the request's body was streamed to the site's instance and cannot be sent to the leader site again")

// leaderLSNTimeout bounds the read of the leader's WAL position after a
// forwarded write.
const leaderLSNTimeout = 2 * time.Second

// ReadsDatabase is what a follower site's node knows of the database for
// local reads.
type ReadsDatabase interface {
	// SitePrimary reports whether this site's database is the primary
	// (an emergency promoted it): then the site serves everything.
	SitePrimary() bool
	// SiteReplayed is how far this site's database (its standby) has
	// replayed the WAL, as last published: a lower bound.
	SiteReplayed() pgha.LSN
	// LeaderLSN reads the primary's current WAL position.
	LeaderLSN(ctx context.Context) (pgha.LSN, error)
}

// ReadsOptions configure Reads.
type ReadsOptions struct {
	App              string
	Site, LeaderSite string
	// All sends a request as if the app's reads were not local: the
	// app's pool. Local and Leader send it to this site's instances
	// and to the leader site's nodes (balance.Pool.SiteTransport).
	All, Local, Leader http.RoundTripper
	Database           ReadsDatabase
	Logger             *slog.Logger
}

// Reads routes the requests of an app whose reads a follower site serves
// (apps.X.sites.S.reads: local), on a node of that site: reads (GET,
// HEAD) to the site's own instances, which read from the site's standby;
// every other method to the leader site, as fly.io replays a write in its
// primary region. Read-your-writes: the response to a forwarded write
// carries LSNCookie, the leader's WAL position after it; a read carrying
// it goes to the leader site until the site's standby has replayed that
// far. An instance of this site that answers a read with ReplayHeader
// has its answer discarded and the request replayed at the leader site
// as a write, once: a request the app knows to write (a page view
// counted) on a GET. When this site's database is the primary (an
// emergency), every request goes through All, as for any app.
// ReplayHeader never reaches the client through Reads.
type Reads struct {
	o ReadsOptions
}

// NewReads returns the router o describes.
func NewReads(o ReadsOptions) *Reads {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Reads{o: o}
}

// Route is where Reads sends a request.
type Route int

// Routes of a request.
const (
	RouteAll    Route = iota // through the app's pool, as without local reads
	RouteLocal               // to this site's instances
	RouteLeader              // to the leader site's nodes
)

// Decide says where a request goes: method is its method; want and
// hasWant its LSNCookie; replayed how far the site's standby has
// replayed; sitePrimary whether the site's database is the primary.
func Decide(method string, want pgha.LSN, hasWant bool, replayed pgha.LSN, sitePrimary bool) Route {
	switch {
	case sitePrimary:
		return RouteAll
	case method != http.MethodGet && method != http.MethodHead:
		return RouteLeader
	case hasWant && replayed < want:
		return RouteLeader
	}
	return RouteLocal
}

// RoundTrip implements http.RoundTripper.
func (r *Reads) RoundTrip(req *http.Request) (*http.Response, error) {
	db := r.o.Database
	sitePrimary := db.SitePrimary()
	want, hasWant := ParseLSNCookie(req)
	var replayed pgha.LSN
	if hasWant && !sitePrimary {
		replayed = db.SiteReplayed() // only then: it reads the database's status
	}
	switch Decide(req.Method, want, hasWant, replayed, sitePrimary) {
	case RouteAll:
		resp, err := r.o.All.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		delete(resp.Header, ReplayHeader) // the site leads: nowhere else to go
		return resp, nil
	case RouteLeader:
		if req.Method == http.MethodGet || req.Method == http.MethodHead {
			return r.read(req, r.o.Leader, r.o.LeaderSite, r.o.Local, r.o.Site)
		}
		return r.write(req)
	}
	return r.read(req, r.o.Local, r.o.Site, r.o.Leader, r.o.LeaderSite)
}

// read sends a read to the site it was meant for, else, when that site
// has no instance to take it (nothing was sent), to the other: a read
// served by the leader site is never stale, and one the site's standby
// serves while the leader site is unreachable is better than none. An
// answer of this site's with ReplayHeader is replayed at the leader site;
// the leader site's is served as it is.
func (r *Reads) read(req *http.Request, first http.RoundTripper, firstSite string, other http.RoundTripper, otherSite string) (*http.Response, error) {
	resp, err := first.RoundTrip(req)
	if errors.Is(err, balance.ErrNoTarget) {
		resp, err = other.RoundTrip(req)
		firstSite = otherSite
	}
	if err == nil && firstSite == r.o.Site && resp.Header.Get(ReplayHeader) != "" {
		return r.replay(req, resp)
	}
	return served(resp, err, firstSite)
}

// replay discards resp, this site's answer to req that asked for a
// replay, and sends req to the leader site as a write. The replayed
// request is never replayed again: write ignores ReplayHeader. A request
// with a body (rare on a GET) is replayed only when the body can be read
// again (GetBody: the edge buffered it, its default).
func (r *Reads) replay(req *http.Request, resp *http.Response) (*http.Response, error) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, replayDrainBytes))
	resp.Body.Close()
	if req.Body != nil && req.Body != http.NoBody {
		if req.GetBody == nil {
			return nil, fmt.Errorf("replay %s %s at site %s: %w", req.Method, req.URL.Path, r.o.LeaderSite, errReplayBody)
		}
		body, err := req.GetBody()
		if err != nil {
			return nil, fmt.Errorf("replay %s %s at site %s: its body: %w", req.Method, req.URL.Path, r.o.LeaderSite, err)
		}
		req = req.Clone(req.Context())
		req.Body = body
	}
	return r.write(req)
}

// write sends a write to the leader site and sets LSNCookie on its
// response.
func (r *Reads) write(req *http.Request) (*http.Response, error) {
	resp, err := r.o.Leader.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(req.Context(), leaderLSNTimeout)
	lsn, lerr := r.o.Database.LeaderLSN(ctx)
	cancel()
	if lerr != nil {
		r.o.Logger.Warn("the leader's WAL position after a write: its client reads from the leader site for a while",
			"app", r.o.App, "for", unknownLSNAge, "err", lerr)
		lsn = unknownLSN
	}
	if err := setLSNCookie(resp, lsn, req.TLS != nil); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return served(resp, nil, r.o.LeaderSite)
}

// served names site on a response, without ReplayHeader.
func served(resp *http.Response, err error, site string) (*http.Response, error) {
	if err != nil {
		return nil, err
	}
	delete(resp.Header, ReplayHeader)
	resp.Header.Set(SiteHeader, site)
	return resp, nil
}

var _ http.RoundTripper = (*Reads)(nil)
