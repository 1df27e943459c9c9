package uptime

import (
	"context"
	"log/slog"
	"time"
)

// alertQueue is how many events an Alerter holds while it delivers.
const alertQueue = 64

// notifyTimeout bounds the delivery of one event to one notifier.
const notifyTimeout = 30 * time.Second

// Alerter delivers one-off events that are no check's change of state (a
// database failover) through the notifiers the checks use, from its own
// goroutine: Send never blocks the part that reports the event.
type Alerter struct {
	notifiers []Notifier
	log       *slog.Logger
	queue     chan Notice
}

// NewAlerter returns an alerter over notifiers; with none, events are
// only logged. Run delivers them.
func NewAlerter(notifiers []Notifier, log *slog.Logger) *Alerter {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Alerter{notifiers: notifiers, log: log, queue: make(chan Notice, alertQueue)}
}

// Send queues an alert that event happened to subject (a short name:
// "database"), saying message. When the queue is full the alert is
// dropped and logged.
func (a *Alerter) Send(at time.Time, subject, event, message string) {
	if len(a.notifiers) == 0 {
		return
	}
	n := Notice{Check: subject, Event: event, State: Unknown, Since: at, At: at, Message: message}
	select {
	case a.queue <- n:
	default:
		a.log.Error("alert dropped: too many waiting", "subject", subject, "event", event, "message", message)
	}
}

// Run delivers the queued alerts until ctx ends.
func (a *Alerter) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case n := <-a.queue:
			for _, nt := range a.notifiers {
				nctx, cancel := context.WithTimeout(ctx, notifyTimeout)
				if err := nt.Notify(nctx, n); err != nil {
					a.log.Error("alert not delivered", "subject", n.Check, "event", n.Event, "err", err)
				}
				cancel()
			}
		}
	}
}
