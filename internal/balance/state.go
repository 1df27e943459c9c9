package balance

// State is what a target is currently fit for.
type State uint8

const (
	// StateStarting: added or reset, not yet Rise consecutive passing checks.
	StateStarting State = iota
	// StateHealthy: eligible for new requests.
	StateHealthy
	// StateUnhealthy: Fall consecutive checks failed since it was healthy.
	StateUnhealthy
	// StateEjected: healthy by checks, but ejected by passive health until
	// TargetStatus.EjectedUntil.
	StateEjected
	// StateDraining: gets no new requests, whatever its health; stays so
	// until removed.
	StateDraining
)

var stateNames = [...]string{"starting", "healthy", "unhealthy", "ejected", "draining"}

// String returns the state's lowercase name.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

// MarshalText encodes the state as its name, for JSON.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
