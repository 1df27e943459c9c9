package uptime

import (
	"fmt"
	"time"
)

// State is a check's state, as one node sees it or as the cluster decides.
// The zero value is Unknown: not enough probes yet.
type State uint8

// States of a check.
const (
	Unknown State = iota
	Up
	Down
)

var stateNames = [...]string{Unknown: "unknown", Up: "up", Down: "down"}

// String returns "unknown", "up" or "down".
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", s)
}

// MarshalText writes the state's name.
func (s State) MarshalText() ([]byte, error) {
	if int(s) >= len(stateNames) {
		return nil, fmt.Errorf("marshal state: invalid state %d", s)
	}
	return []byte(s.String()), nil
}

// UnmarshalText reads a state's name.
func (s *State) UnmarshalText(b []byte) error {
	for i, name := range stateNames {
		if string(b) == name {
			*s = State(i)
			return nil
		}
	}
	return fmt.Errorf("unmarshal state: unknown state %q", b)
}

// Verdict is one node's latest view of one check: the state of its
// rise/fall Tracker after its last probe.
type Verdict struct {
	Check string    `json:"check"`
	Node  string    `json:"node"`
	State State     `json:"state"`
	At    time.Time `json:"at"`              // when the node formed it (its last probe ended)
	Error string    `json:"error,omitempty"` // why the last probe failed; "" if it passed
}
