package admin

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Jobs is what the job endpoints need of the node.
type Jobs interface {
	// Jobs returns every job's schedule, counts and recent runs.
	Jobs(ctx context.Context) ([]JobStatus, error)
	// RunJob runs a job now and returns its run once it has ended.
	RunJob(ctx context.Context, name string) (JobRun, error)
}

// JobStatus is one scheduled job.
type JobStatus struct {
	Name     string        `json:"name"`
	Schedule string        `json:"schedule"`
	Timezone string        `json:"timezone"`
	App      string        `json:"app,omitempty"`
	Overlap  string        `json:"overlap"`
	Timeout  time.Duration `json:"timeout"`
	Next     time.Time     `json:"next,omitzero"`
	Running  *JobRun       `json:"running,omitempty"`
	Queued   int           `json:"queued"`
	Runs     int           `json:"runs"`    // runs started
	Failed   int           `json:"failed"`  // runs that failed or timed out
	Skipped  int           `json:"skipped"` // firings skipped for overlap
	Missed   int           `json:"missed"`  // firings nobody ran
	History  []JobRun      `json:"history"` // oldest first
}

// JobRun is one run of a job, or a firing that did not run.
type JobRun struct {
	ID        int       `json:"id"`
	Trigger   string    `json:"trigger"` // schedule or manual
	Scheduled time.Time `json:"scheduled,omitzero"`
	Started   time.Time `json:"started,omitzero"`
	Finished  time.Time `json:"finished,omitzero"`
	ExitCode  int       `json:"exit_code"`
	Result    string    `json:"result"` // running, ok, failed, timeout, skipped, missed
	Error     string    `json:"error,omitempty"`
	Output    []string  `json:"output,omitempty"` // the last lines of its output
	Missed    int       `json:"missed,omitempty"`
}

// JobList is the answer to GET /v1/jobs.
type JobList struct {
	Jobs []JobStatus `json:"jobs"`
}

func (s *Server) registerJobs(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/jobs", s.jobs)
	mux.HandleFunc("POST /v1/jobs/{name}/run", s.runJob)
}

func (s *Server) jobs(w http.ResponseWriter, r *http.Request) {
	if s.opts.Jobs == nil {
		writeJSON(w, http.StatusOK, JobList{Jobs: []JobStatus{}})
		return
	}
	js, err := s.opts.Jobs.Jobs(r.Context())
	writeResult(w, JobList{Jobs: js}, err)
}

func (s *Server) runJob(w http.ResponseWriter, r *http.Request) {
	if s.opts.Jobs == nil {
		writeErr(w, Errorf(ErrNotFound, "no job %q: the stack has no jobs", r.PathValue("name")))
		return
	}
	run, err := s.opts.Jobs.RunJob(r.Context(), r.PathValue("name"))
	writeResult(w, run, err)
}

// Jobs lists the node's jobs.
func (c *Client) Jobs(ctx context.Context) ([]JobStatus, error) {
	var l JobList
	err := c.call(ctx, http.MethodGet, "/v1/jobs", nil, &l)
	return l.Jobs, err
}

// RunJob runs a job now and waits until it has ended.
func (c *Client) RunJob(ctx context.Context, name string) (JobRun, error) {
	var run JobRun
	err := c.call(ctx, http.MethodPost, "/v1/jobs/"+url.PathEscape(name)+"/run", struct{}{}, &run)
	return run, err
}
