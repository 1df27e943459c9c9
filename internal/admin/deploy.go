package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/tandem-run/tandem/internal/apprun"
	"github.com/tandem-run/tandem/internal/cluster"
	"io"
	"net/http"
	"time"
)

// Errors a Deployer or Jobs implementation wraps so that the API answers
// with the right status (ErrBadRequest: 400).
var (
	ErrNotFound = errors.New("not found")                    // 404: no such app, job or version
	ErrConflict = errors.New("conflicts with current state") // 409: a deploy runs, a version exists
	// ErrUnavailable: 503, the control plane (etcd) has no quorum.
	ErrUnavailable = errors.New("control plane unavailable")
)

// Deployer is what the deploy, history and maintenance endpoints need of
// the node.
type Deployer interface {
	// Deploy starts a deploy of app and returns a watch of its progress.
	// The deploy goes on if the watcher leaves.
	Deploy(ctx context.Context, app string, req DeployRequest) (DeployWatch, error)
	// Rollback starts a deploy of a kept release of app.
	Rollback(ctx context.Context, app string, req RollbackRequest) (DeployWatch, error)
	// Watch returns the progress of the deploy of app in progress.
	Watch(ctx context.Context, app string) (DeployWatch, error)
	// History returns app's kept releases and past deploys.
	History(ctx context.Context, app string) (History, error)
	// Plan says what applying a stack file's apps would change.
	Plan(ctx context.Context, req PlanRequest) (Plan, error)
	// Pause holds app's new requests and waits (up to req.Drain) until
	// the requests in flight have finished.
	Pause(ctx context.Context, app string, req PauseRequest) (GateStatus, error)
	// Maintenance answers app's requests with a 503 maintenance page.
	Maintenance(ctx context.Context, app string, req MaintenanceRequest) (GateStatus, error)
	// Resume ends a pause or maintenance of app.
	Resume(ctx context.Context, app string) (GateStatus, error)
}

// DeployWatch returns a deploy's events from index from on, whether the
// deploy is over, and a channel closed when there is more to see.
type DeployWatch func(from int) (events []DeployEvent, done bool, changed <-chan struct{})

// ReleaseSpec is what a release runs.
type ReleaseSpec struct {
	Command        []string          `json:"command"`
	Dir            string            `json:"dir"`
	Env            map[string]string `json:"env,omitempty"`
	ReleaseCommand []string          `json:"release_command,omitempty"`
}

// DeployRequest is the body of POST /v1/apps/{app}/deploy: changes (the
// fields after Spec) to Spec (a whole app section, from a stack file) or,
// without Spec, to the current release. An empty request redeploys the
// current release's spec as a new release.
type DeployRequest struct {
	Who     string `json:"who"`               // who asks, for the record
	Version string `json:"version,omitempty"` // the new release's label; "" for the next vN

	Spec *ReleaseSpec `json:"spec,omitempty"`

	Command        []string          `json:"command,omitempty"`
	Dir            string            `json:"dir,omitempty"`
	SetEnv         map[string]string `json:"set_env,omitempty"`
	UnsetEnv       []string          `json:"unset_env,omitempty"`
	ReleaseCommand []string          `json:"release_command,omitempty"`
}

// RollbackRequest is the body of POST /v1/apps/{app}/rollback.
type RollbackRequest struct {
	Who     string `json:"who"`
	Version string `json:"version,omitempty"` // "" for the release the current one replaced
}

// DeployEvent is one line of a deploy's progress stream.
type DeployEvent struct {
	Time     time.Time `json:"time"`
	Step     string    `json:"step"` // begin, release, output, start, healthy, drain, stop, rollback, zone, done
	Instance string    `json:"instance,omitempty"`
	Version  string    `json:"version,omitempty"`
	Ready    int       `json:"ready"`
	Want     int       `json:"want"`
	Message  string    `json:"message"`
	// Result is set on the last event: succeeded, rolled back, failed,
	// interrupted.
	Result string `json:"result,omitempty"`
	// Node names the node the step happened on, in a deploy across a
	// cluster; "" for the steps of a one-node deploy and for those of
	// the cluster deploy as a whole (step "zone", the last "done").
	Node string `json:"node,omitempty"`
}

// Release is a kept release, without its environment's values (they may
// be secrets).
type Release struct {
	Version        string    `json:"version"`
	Command        []string  `json:"command"`
	Dir            string    `json:"dir"`
	EnvKeys        []string  `json:"env_keys,omitempty"`
	ReleaseCommand []string  `json:"release_command,omitempty"`
	Created        time.Time `json:"created"`
	Source         string    `json:"source"`
	Current        bool      `json:"current"`
}

// DeployRecord is one deploy: who, when, from, to, how long, how it ended.
type DeployRecord struct {
	ID       int           `json:"id"`
	Kind     string        `json:"kind"` // deploy or rollback
	Who      string        `json:"who"`
	From     string        `json:"from"`
	To       string        `json:"to"`
	Started  time.Time     `json:"started"`
	Finished time.Time     `json:"finished,omitzero"`
	Duration time.Duration `json:"duration"`
	Result   string        `json:"result,omitempty"` // "" while running
	Reason   string        `json:"reason,omitempty"`
	// Progress of a running deploy: phase and instances ready.
	Phase string `json:"phase,omitempty"`
	Ready int    `json:"ready,omitempty"`
	Want  int    `json:"want,omitempty"`
}

// History is the answer to GET /v1/apps/{app}/history.
type History struct {
	App      string         `json:"app"`
	Current  string         `json:"current"`
	Releases []Release      `json:"releases"` // oldest first
	Deploys  []DeployRecord `json:"deploys"`  // oldest first; a running one last
	// Cluster is the cluster's release of the app and the nodes that run
	// another; nil when the cluster has none.
	Cluster *ClusterRelease `json:"cluster,omitempty"`
}

// PlanRequest is the body of POST /v1/plan: the apps and jobs of a stack
// file.
type PlanRequest struct {
	Apps map[string]ReleaseSpec `json:"apps"`
	Jobs map[string]JobSpec     `json:"jobs,omitempty"`
}

// JobSpec is a job of a stack file, as the plan compares it.
type JobSpec struct {
	Schedule string            `json:"schedule"`
	Command  []string          `json:"command"`
	App      string            `json:"app,omitempty"`
	Timezone string            `json:"timezone,omitempty"`
	Timeout  time.Duration     `json:"timeout"`
	Overlap  string            `json:"overlap"`
	Dir      string            `json:"dir,omitempty"`
	Env      map[string]string `json:"env,omitempty"`
}

// Plan says, app by app, what applying a stack file would change, and
// what in it only a restart of tandem applies.
type Plan struct {
	Apps []AppPlan `json:"apps"`
	// Restart lists the changes apply cannot make: a node takes them when
	// tandem restarts with the file.
	Restart []string `json:"restart,omitempty"`
}

// AppPlan is one app's part of a Plan.
type AppPlan struct {
	App     string   `json:"app"`
	Current string   `json:"current,omitempty"` // the version running now
	Changes []string `json:"changes,omitempty"` // what a deploy would change; none: nothing to do
	// Note says why the app cannot be deployed by apply, if it cannot.
	Note string `json:"note,omitempty"`
}

// PauseRequest is the body of POST /v1/apps/{app}/pause.
type PauseRequest struct {
	Hold  time.Duration `json:"hold"`  // how long each request is held before a 503; 0 means 30s
	Drain time.Duration `json:"drain"` // how long to wait for requests in flight; 0 means 30s
}

// MaintenanceRequest is the body of POST /v1/apps/{app}/maintenance.
type MaintenanceRequest struct {
	Message string `json:"message"`
}

// GateStatus is what an app's edge does with its requests.
type GateStatus struct {
	Mode     string        `json:"mode"` // open, paused, maintenance
	Message  string        `json:"message,omitempty"`
	Since    time.Time     `json:"since,omitzero"`
	Hold     time.Duration `json:"hold,omitempty"`
	Held     int           `json:"held"`      // requests held now
	InFlight int64         `json:"in_flight"` // requests the app's instances are serving
}

// registerDeploy adds the deploy and maintenance endpoints.
func (s *Server) registerDeploy(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/apps/{app}/deploy", s.deploy)
	mux.HandleFunc("GET /v1/apps/{app}/deploy", s.watch)
	mux.HandleFunc("POST /v1/apps/{app}/rollback", s.rollback)
	mux.HandleFunc("GET /v1/apps/{app}/history", s.history)
	mux.HandleFunc("POST /v1/plan", s.plan)
	mux.HandleFunc("POST /v1/apps/{app}/pause", s.pause)
	mux.HandleFunc("POST /v1/apps/{app}/maintenance", s.maintenance)
	mux.HandleFunc("POST /v1/apps/{app}/resume", s.resume)
}

func (s *Server) deployer(w http.ResponseWriter) Deployer {
	if s.opts.Deploys == nil {
		writeError(w, http.StatusNotImplemented, "this node does not deploy")
	}
	return s.opts.Deploys
}

func (s *Server) deploy(w http.ResponseWriter, r *http.Request) {
	d := s.deployer(w)
	var req DeployRequest
	if d == nil || !readJSON(w, r, &req) {
		return
	}
	watch, err := d.Deploy(r.Context(), r.PathValue("app"), req)
	StreamDeploy(w, r, watch, err)
}

func (s *Server) rollback(w http.ResponseWriter, r *http.Request) {
	d := s.deployer(w)
	var req RollbackRequest
	if d == nil || !readJSON(w, r, &req) {
		return
	}
	watch, err := d.Rollback(r.Context(), r.PathValue("app"), req)
	StreamDeploy(w, r, watch, err)
}

func (s *Server) watch(w http.ResponseWriter, r *http.Request) {
	d := s.deployer(w)
	if d == nil {
		return
	}
	watch, err := d.Watch(r.Context(), r.PathValue("app"))
	StreamDeploy(w, r, watch, err)
}

// StreamDeploy answers a request for a deploy's progress: err as its
// status, else the deploy's events as JSON lines until it is over or the
// client leaves (the deploy goes on). Other listeners than the admin API
// (the node-to-node one) answer the same way.
func StreamDeploy(w http.ResponseWriter, r *http.Request, watch DeployWatch, err error) {
	if err != nil {
		writeErr(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	next := 0
	for {
		evs, done, changed := watch(next)
		for _, ev := range evs {
			if err := enc.Encode(ev); err != nil {
				return // the client left
			}
		}
		next += len(evs)
		if err := rc.Flush(); err != nil {
			return
		}
		if done && len(evs) == 0 {
			return
		}
		if done {
			continue // read what came with the end
		}
		select {
		case <-changed:
		case <-r.Context().Done():
			return
		}
	}
}

func (s *Server) history(w http.ResponseWriter, r *http.Request) {
	if d := s.deployer(w); d != nil {
		h, err := d.History(r.Context(), r.PathValue("app"))
		writeResult(w, h, err)
	}
}

func (s *Server) plan(w http.ResponseWriter, r *http.Request) {
	d := s.deployer(w)
	var req PlanRequest
	if d == nil || !readJSON(w, r, &req) {
		return
	}
	p, err := d.Plan(r.Context(), req)
	writeResult(w, p, err)
}

func (s *Server) pause(w http.ResponseWriter, r *http.Request) {
	d := s.deployer(w)
	var req PauseRequest
	if d == nil || !readJSON(w, r, &req) {
		return
	}
	g, err := d.Pause(r.Context(), r.PathValue("app"), req)
	writeResult(w, g, err)
}

func (s *Server) maintenance(w http.ResponseWriter, r *http.Request) {
	d := s.deployer(w)
	var req MaintenanceRequest
	if d == nil || !readJSON(w, r, &req) {
		return
	}
	g, err := d.Maintenance(r.Context(), r.PathValue("app"), req)
	writeResult(w, g, err)
}

func (s *Server) resume(w http.ResponseWriter, r *http.Request) {
	if d := s.deployer(w); d != nil {
		g, err := d.Resume(r.Context(), r.PathValue("app"))
		writeResult(w, g, err)
	}
}

// readJSON decodes a request body strictly; it answers 400 and returns
// false when it cannot.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, "decode request: "+err.Error())
		return false
	}
	return true
}

func writeResult(w http.ResponseWriter, v any, err error) {
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// writeErr answers with the status err maps to; the one place the deploy
// and job endpoints map errors to statuses.
func writeErr(w http.ResponseWriter, err error) {
	writeError(w, statusOf(err), err.Error())
}

// statusOf is the status an error of the node's parts answers with: the
// one place the API maps errors to statuses.
func statusOf(err error) int {
	switch {
	case errors.Is(err, ErrBadRequest), errors.Is(err, apprun.ErrInvalid), errors.Is(err, cluster.ErrJoinTokenTTL):
		return http.StatusBadRequest
	case errors.Is(err, ErrNotFound), errors.Is(err, apprun.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrConflict), errors.Is(err, apprun.ErrConflict), errors.Is(err, cluster.ErrNodeRunning):
		return http.StatusConflict
	case errors.Is(err, ErrUnavailable), errors.Is(err, cluster.ErrUnavailable), errors.Is(err, apprun.ErrStopping),
		errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// errorFor maps an API error answer back to the sentinel it came from,
// for the client.
func errorFor(status int, msg string) error {
	switch status {
	case http.StatusBadRequest:
		return Errorf(ErrBadRequest, "%s", msg)
	case http.StatusNotFound:
		return Errorf(ErrNotFound, "%s", msg)
	case http.StatusConflict:
		return Errorf(ErrConflict, "%s", msg)
	case http.StatusServiceUnavailable:
		return Errorf(ErrUnavailable, "%s", msg)
	case http.StatusUnauthorized:
		return Errorf(ErrUnauthorized, "%s", msg)
	case http.StatusForbidden:
		return Errorf(ErrForbidden, "%s", msg)
	}
	return fmt.Errorf("%s (HTTP %d)", msg, status)
}

// Errorf returns an error that reads as the formatted message and that
// errors.Is matches with kind (ErrBadRequest, ErrNotFound, ErrConflict).
func Errorf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, err: fmt.Errorf(format, args...)}
}

type kindError struct {
	kind error
	err  error
}

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }
