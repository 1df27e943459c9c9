package peer

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httputil"

	"github.com/tandem-run/tandem/internal/apprun"
	"github.com/tandem-run/tandem/internal/balance"
	"github.com/tandem-run/tandem/internal/cluster"
	"github.com/tandem-run/tandem/internal/deploy"
)

// Handler serves the node listener's requests: app traffic to the local
// instances of the app it names, and the control routes. The listener
// has checked the caller's certificate.
type Handler struct {
	apps    *apprun.Set
	proxies map[string]http.Handler
	control *http.ServeMux
	log     *slog.Logger
}

var _ http.Handler = (*Handler)(nil)

// NewHandler returns the handler for apps.
func NewHandler(apps *apprun.Set, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{apps: apps, proxies: make(map[string]http.Handler), control: http.NewServeMux(), log: log}
	for _, a := range apps.Apps() {
		h.proxies[a.Name()] = h.appProxy(a.Name(), a.Pool().LocalTransport())
	}
	h.control.HandleFunc("POST /node/v1/apps/{app}/deploy", h.deploy)
	h.control.HandleFunc("POST /node/v1/apps/{app}/rollback", h.rollback)
	return h
}

// ServeHTTP routes app traffic (it carries balance.AppHeader) to the
// app's local instances, and the rest to the control routes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := r.Header.Get(balance.AppHeader)
	if name == "" {
		h.control.ServeHTTP(w, r)
		return
	}
	p, ok := h.proxies[name]
	if !ok {
		http.Error(w, "no such app on this node", http.StatusNotFound)
		return
	}
	p.ServeHTTP(w, r)
}

// appProxy forwards app traffic to the app's local instances. The
// request was routed, cached and counted at the edge that received it.
func (h *Handler) appProxy(app string, local http.RoundTripper) http.Handler {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = app
			pr.Out.Host = pr.In.Host
			// The sending edge set these for the client; keep them.
			for _, k := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto"} {
				if v := pr.In.Header.Values(k); len(v) > 0 {
					pr.Out.Header[k] = v
				}
			}
			pr.Out.Header.Del(balance.AppHeader)
		},
		Transport: local,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			status := http.StatusBadGateway
			switch {
			case errors.Is(err, balance.ErrNoTarget):
				status = http.StatusServiceUnavailable
			case errors.Is(err, balance.ErrUpstreamTimeout):
				status = http.StatusGatewayTimeout
			}
			h.log.Warn("forwarded request failed", "app", app, "err", err)
			w.WriteHeader(status)
		},
	}
}

// deployRequest is the body of POST /node/v1/apps/{app}/deploy: a release
// the coordinating node made, to roll out here under the same version.
type deployRequest struct {
	Who     string         `json:"who"`
	Release deploy.Release `json:"release"`
	// SkipReleasePhase leaves the release phase out: it ran once, on
	// the coordinating node.
	SkipReleasePhase bool `json:"skip_release_phase"`
}

// rollbackRequest is the body of POST /node/v1/apps/{app}/rollback.
type rollbackRequest struct {
	Who     string `json:"who"`
	Version string `json:"version"`
}

func (h *Handler) deploy(w http.ResponseWriter, r *http.Request) {
	var req deployRequest
	a, ok := h.app(w, r, &req)
	if !ok {
		return
	}
	watch, err := a.DeployFromPeer(req.Release, req.Who, req.SkipReleasePhase)
	h.answer(w, r, watch, err)
}

func (h *Handler) rollback(w http.ResponseWriter, r *http.Request) {
	var req rollbackRequest
	a, ok := h.app(w, r, &req)
	if !ok {
		return
	}
	watch, err := a.RollbackFromPeer(req.Version, req.Who)
	h.answer(w, r, watch, err)
}

// app decodes the request body strictly into v and finds the app it
// names; it answers the error and returns false when either fails.
func (h *Handler) app(w http.ResponseWriter, r *http.Request, v any) (*apprun.App, bool) {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "decode request: "+err.Error())
		return nil, false
	}
	a, err := h.apps.App(r.PathValue("app"))
	if err != nil {
		h.answer(w, r, nil, err)
		return nil, false
	}
	return a, true
}

// answer streams watch, or answers err with its status: the one place
// the node-to-node API maps errors to statuses.
func (h *Handler) answer(w http.ResponseWriter, r *http.Request, watch deploy.EventLog, err error) {
	if err == nil {
		writeStream(w, r, watch)
		return
	}
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, apprun.ErrInvalid):
		status = http.StatusBadRequest
	case errors.Is(err, apprun.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, apprun.ErrConflict):
		status = http.StatusConflict
	case errors.Is(err, apprun.ErrStopping), errors.Is(err, cluster.ErrUnavailable):
		status = http.StatusServiceUnavailable
	}
	writeError(w, status, err.Error())
}

// errorBody is an error answer's body.
type errorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(errorBody{Error: msg})
}
