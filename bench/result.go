package main

// Result is everything measured for one scenario on one peer.
type Result struct {
	Scenario string   `json:"scenario"`
	Peer     string   `json:"peer"`
	Mode     Mode     `json:"mode"`
	Status   Status   `json:"status"`
	Reason   string   `json:"reason,omitempty"` // why n/a, or the errors met
	Samples  []Sample `json:"samples"`
	Summary  *Summary `json:"summary,omitempty"` // medians, min and max over the samples
}

// Status says whether a Result has figures.
type Status string

// Result statuses.
const (
	StatusOK    Status = "ok"    // at least one sample
	StatusNA    Status = "n/a"   // the peer cannot run the scenario (Reason says why)
	StatusError Status = "error" // every attempt failed (Reason has the errors)
)

// addError records a failed attempt.
func (r *Result) addError(err error) {
	if r.Reason != "" {
		r.Reason += "; "
	}
	r.Reason += err.Error()
}

// finish sets the status and summary once all rounds ran.
func (r *Result) finish() {
	switch {
	case r.Status == StatusNA:
	case len(r.Samples) > 0:
		r.Status = StatusOK
		s := summarize(r.Samples)
		r.Summary = &s
	default:
		r.Status = StatusError
	}
}
