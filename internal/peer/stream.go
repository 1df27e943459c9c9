package peer

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/tandem-run/tandem/internal/deploy"
)

// The control routes answer a deploy as a stream: one deploy.Event as a
// JSON object a line, flushed as each happens, until the deploy's last
// event (the one with a Result). A stream that ends before that line is
// cut: the node stopped, or the connection broke.

// ErrStreamEnded is returned by readStream when the stream ended before
// the deploy's last event.
var ErrStreamEnded = errors.New("the node's progress stream ended before the deploy did")

// maxLine bounds one line of a stream (a release phase's output line is
// the longest event).
const maxLine = 1 << 20

// writeStream writes watch's events to w until the deploy is over or the
// client leaves (the deploy goes on).
func writeStream(w http.ResponseWriter, r *http.Request, watch deploy.EventLog) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	next := 0
	for {
		evs, done, changed := watch.Events(next)
		for _, ev := range evs {
			if err := enc.Encode(ev); err != nil {
				return // the client left
			}
		}
		next += len(evs)
		if err := rc.Flush(); err != nil {
			return
		}
		switch {
		case done && len(evs) == 0:
			return
		case done:
			continue // read what came with the end
		}
		select {
		case <-changed:
		case <-r.Context().Done():
			return
		}
	}
}

// readStream passes each event of a stream to onEvent and returns the
// last one; ErrStreamEnded if the stream stopped before an event with a
// Result.
func readStream(body io.Reader, onEvent func(deploy.Event)) (deploy.Event, error) {
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var last deploy.Event
	for sc.Scan() {
		var ev deploy.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return last, fmt.Errorf("read progress: %w", err)
		}
		last = ev
		onEvent(ev)
		if ev.Result != "" {
			return ev, nil
		}
	}
	if err := sc.Err(); err != nil {
		return last, fmt.Errorf("read progress: %w", err)
	}
	return last, ErrStreamEnded
}
