package uptime

import "time"

// historySize is how many of this node's probes a check keeps.
const historySize = 100

// Probe is the result of one probe of a check by this node.
type Probe struct {
	At      time.Time     // when the probe started
	OK      bool          // it passed
	Latency time.Duration // until the answer was read, or the probe failed
	Status  int           // the answer's status code; 0 when there was none
	Error   string        // why it failed; "" when it passed
}

// history is a ring of the last historySize probes.
type history struct {
	buf  [historySize]Probe
	next int // where the next probe goes
	n    int // probes held
}

func (h *history) add(p Probe) {
	h.buf[h.next] = p
	h.next = (h.next + 1) % historySize
	h.n = min(h.n+1, historySize)
}

// list returns the probes held, oldest first.
func (h *history) list() []Probe {
	out := make([]Probe, 0, h.n)
	start := (h.next - h.n + historySize) % historySize
	for i := range h.n {
		out = append(out, h.buf[(start+i)%historySize])
	}
	return out
}

// last returns the latest probe; the zero Probe when there is none.
func (h *history) last() Probe {
	if h.n == 0 {
		return Probe{}
	}
	return h.buf[(h.next-1+historySize)%historySize]
}
