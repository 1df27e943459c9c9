package uptime

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Notifier delivers alerts: a webhook, mail. Notify returns once n is
// delivered or has finally failed; its error names the notifier.
type Notifier interface {
	Notify(ctx context.Context, n Notice) error
}

// Notice is one alert as it is delivered; it is also the JSON body the
// Webhook posts.
type Notice struct {
	Check string `json:"check"`
	URL   string `json:"url"`
	// State is the check's state now; Previous the state before. Both are
	// "down" when the notice repeats that the check is still down.
	State    State `json:"state"`
	Previous State `json:"previous"`
	// Since is when the check entered State.
	Since time.Time `json:"since"`
	// At is when the notice was decided.
	At time.Time `json:"at"`
	// Message says what happened in one line.
	Message string `json:"message"`
	// Nodes are the verdicts of the nodes that counted.
	Nodes map[string]NodeVerdict `json:"nodes"`
	// Event names a one-off event that is no check's change of state (a
	// database failover: "failover"); "" for a check's notice. Check then
	// names what it happened to ("database").
	Event string `json:"event,omitempty"`
}

// NodeVerdict is a node's verdict within a Notice.
type NodeVerdict struct {
	State State     `json:"state"`
	At    time.Time `json:"at"`
	Error string    `json:"error,omitempty"`
}

// Repeat reports whether n repeats that a check is still down.
func (n Notice) Repeat() bool { return n.State == Down && n.Previous == Down }

// Subject is a short title for the notice, as in a mail's subject.
func (n Notice) Subject() string {
	switch {
	case n.Event != "":
		return fmt.Sprintf("%s: %s", n.Check, n.Event)
	case n.Repeat():
		return fmt.Sprintf("%s is still DOWN", n.Check)
	case n.State == Down:
		return fmt.Sprintf("%s is DOWN", n.Check)
	default:
		return fmt.Sprintf("%s is UP", n.Check)
	}
}

// noticeOf turns an Evaluator's action into the notice to deliver.
func noticeOf(a Action, url string) Notice {
	var n Notice
	switch a := a.(type) {
	case *Alert:
		n = Notice{Check: a.Check, State: a.To, Previous: a.From, Since: a.Since, At: a.Since, Nodes: nodeVerdicts(a.Nodes)}
		switch {
		case a.To == Down:
			n.Message = fmt.Sprintf("%s is DOWN: %s see it failing (%s)%s", a.Check, countNodes(a.Nodes, Down), url, firstError(a.Nodes))
		case a.From == Down && !a.FromSince.IsZero():
			n.Message = fmt.Sprintf("%s is UP again after %s down (%s)", a.Check, roundDuration(a.Since.Sub(a.FromSince)), url)
		default:
			n.Message = fmt.Sprintf("%s is UP (%s)", a.Check, url)
		}
	case *Renotify:
		n = Notice{Check: a.Check, State: Down, Previous: Down, Since: a.Since, At: a.At, Nodes: nodeVerdicts(a.Nodes)}
		n.Message = fmt.Sprintf("%s is still DOWN, for %s: %s see it failing (%s)%s", a.Check, roundDuration(a.At.Sub(a.Since)),
			countNodes(a.Nodes, Down), url, firstError(a.Nodes))
	}
	n.URL = url
	return n
}

func nodeVerdicts(vs map[string]Verdict) map[string]NodeVerdict {
	out := make(map[string]NodeVerdict, len(vs))
	for node, v := range vs {
		out[node] = NodeVerdict{State: v.State, At: v.At, Error: v.Error}
	}
	return out
}

// countNodes says how many of the nodes are in state s: "2 of 3 nodes".
func countNodes(vs map[string]Verdict, s State) string {
	k := 0
	for _, v := range vs {
		if v.State == s {
			k++
		}
	}
	if len(vs) == 1 {
		return "1 of 1 node"
	}
	return fmt.Sprintf("%d of %d nodes", k, len(vs))
}

// firstError returns ": node: error" for the first node (by name) that
// is down with an error, or "".
func firstError(vs map[string]Verdict) string {
	for _, node := range slices.Sorted(maps.Keys(vs)) {
		if v := vs[node]; v.State == Down && v.Error != "" {
			return fmt.Sprintf(": %s: %s", node, v.Error)
		}
	}
	return ""
}

// roundDuration shortens d for a message: seconds under an hour, minutes
// above.
func roundDuration(d time.Duration) string {
	if d >= time.Hour {
		d = d.Round(time.Minute)
	} else {
		d = d.Round(time.Second)
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// text is the notice as plain text: the message, then every node's view.
func (n Notice) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\ncheck:  %s\nurl:    %s\nstate:  %s (was %s)\nsince:  %s\n\nnodes:\n",
		n.Message, n.Check, n.URL, n.State, n.Previous, n.Since.UTC().Format(time.RFC3339))
	for _, node := range slices.Sorted(maps.Keys(n.Nodes)) {
		v := n.Nodes[node]
		fmt.Fprintf(&b, "  %s: %s at %s", node, v.State, v.At.UTC().Format(time.RFC3339))
		if v.Error != "" {
			fmt.Fprintf(&b, " (%s)", v.Error)
		}
		b.WriteString("\n")
	}
	return b.String()
}
