package deploy

// Finished is an EventLog of a deploy that is over already: its one event
// says how it ended (a node asked to run what it runs already).
type Finished Event

var _ EventLog = Finished{}

// Events implements EventLog.
func (f Finished) Events(from int) ([]Event, bool, <-chan struct{}) {
	if from > 0 {
		return nil, true, nil
	}
	return []Event{Event(f)}, true, nil
}
