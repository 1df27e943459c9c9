package edge

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"strings"

	"github.com/tandem-run/tandem/internal/httpcache"
)

// Purger applies a purge event: on one node, to its cache; in a cluster,
// also to every other node's. It returns how many stored responses the
// local purge touched.
type Purger interface {
	Purge(ctx context.Context, ev httpcache.Event) (int, error)
}

// ErrPurgeIncomplete is returned (wrapped) by a Purger that applied a purge
// here but could not hand it to every node; the edge answers 503 with the
// error's text, which says why, so that the client retries (purges are
// idempotent). The Purger logs it; the edge does not.
var ErrPurgeIncomplete = errors.New("purge not applied on every node")

// purgeWaitHeader asks the edge to answer a purge only once every live
// node has applied it: "Tandem-Purge-Wait: all".
const purgeWaitHeader = "Tandem-Purge-Wait"

type purgeWaitKey struct{}

// PurgeWaitAll reports whether the purge in ctx asked to wait until every
// live node applied it.
func PurgeWaitAll(ctx context.Context) bool {
	v, _ := ctx.Value(purgeWaitKey{}).(bool)
	return v
}

// WithPurgeWaitAll returns ctx marked as PurgeWaitAll; the admin API's
// purge uses it.
func WithPurgeWaitAll(ctx context.Context) context.Context {
	return context.WithValue(ctx, purgeWaitKey{}, true)
}

// PurgeOptions say who may send PURGE and BAN requests to the edge, and
// where accepted purges go.
type PurgeOptions struct {
	// Allow lists the client networks that may purge. The client is the
	// address the trusted-proxy rules arrive at, so a CMS behind a trusted
	// load balancer is recognised.
	Allow []netip.Prefix
	// Token, when set, lets any client purge that sends it as
	// "Authorization: Bearer <token>" or "X-Purge-Token: <token>".
	Token string
	// Purger applies accepted purges; nil makes PURGE and BAN answer 405.
	Purger Purger
}

// isPurge reports whether r is a cache invalidation request.
func isPurge(r *http.Request) bool { return r.Method == "PURGE" || r.Method == "BAN" }

// purgeResult is the JSON body of an answered purge.
type purgeResult struct {
	Status string          `json:"status"`
	Purged int             `json:"purged"`
	Event  httpcache.Event `json:"event"`
}

// purge answers a PURGE or BAN request. Nothing is purged unless the
// client is allowed: 405 when the edge takes no purges at all, 403 when
// this client may not send them.
func (s *Server) purge(w http.ResponseWriter, r *http.Request) {
	x := exchangeFrom(r.Context())
	p := s.opts.Purge
	if p.Purger == nil {
		x.setError("purge_disabled")
		w.Header().Set("Allow", "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS")
		s.writeError(w, r, http.StatusMethodNotAllowed)
		return
	}
	if !s.purgeAllowed(r, x.clientIP) {
		x.setError("purge_forbidden")
		s.log.Warn("purge refused", "client_ip", x.clientIP.String(), "method", r.Method, "target", r.RequestURI)
		s.writeError(w, r, http.StatusForbidden)
		return
	}
	ev, err := httpcache.ParsePurge(r)
	if err != nil {
		x.setError("purge_malformed")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(err.Error() + "\n"))
		return
	}
	ev.Time = x.start
	ctx := r.Context()
	if strings.EqualFold(r.Header.Get(purgeWaitHeader), "all") {
		ctx = WithPurgeWaitAll(ctx)
	}
	n, err := p.Purger.Purge(ctx, ev)
	if errors.Is(err, ErrPurgeIncomplete) {
		// It holds here; the answer says why not everywhere (no quorum,
		// a full disk) and the Purger logs it, at a bounded rate.
		x.setError("purge_failed")
		s.writeErrorText(w, r, http.StatusServiceUnavailable,
			"The purge was not applied on every node: "+err.Error()+". Purges are idempotent: send it again.")
		return
	}
	if err != nil {
		x.setError("purge_failed")
		s.log.Error("purge failed", "event", ev, "err", err)
		status, text := http.StatusInternalServerError, "The purge failed: "+err.Error()
		if errors.Is(err, httpcache.ErrBadPurge) {
			status, text = http.StatusBadRequest, "The purge is malformed: "+err.Error()
		}
		s.writeErrorText(w, r, status, text)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(purgeResult{Status: "ok", Purged: n, Event: ev})
}

// purgeAllowed reports whether the client may purge: from an allowed
// network, or with the token.
func (s *Server) purgeAllowed(r *http.Request, client netip.Addr) bool {
	p := s.opts.Purge
	if client.IsValid() {
		for _, pfx := range p.Allow {
			if pfx.Contains(client.Unmap()) {
				return true
			}
		}
	}
	if p.Token == "" {
		return false
	}
	got := r.Header.Get("X-Purge-Token")
	if auth := r.Header.Get("Authorization"); got == "" && len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
		got = auth[7:]
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(p.Token)) == 1
}
