package sites

import (
	"context"
	"errors"
	"fmt"
)

// Scaler runs an app's instances on this node; *apprun.App implements it.
type Scaler interface {
	Scale(ctx context.Context, n int) error
}

// Fallback is a route's fallback page; *edge.Fallback implements it.
type Fallback interface {
	On(message string)
	Off()
}

// Plan is what a node does in each mode: how many instances each app
// runs here, normally and in an emergency, and which routes answer with
// their fallback page in an emergency. It implements Effects.
type Plan struct {
	Apps   []AppPlan
	Routes []RoutePlan
	// Message is the fallback page's text; "" for the edge's default.
	Message string
}

// AppPlan is one app's instances on this node in each mode.
type AppPlan struct {
	Name              string
	Normal, Emergency int
	App               Scaler
}

// RoutePlan is a route that is not critical: in an emergency its
// fallback is on.
type RoutePlan struct {
	Label    string // host and path, for the audit log
	Fallback Fallback
}

var _ Effects = Plan{}

// Apply scales every app to its count for m and turns the routes'
// fallbacks on (emergency) or off. It applies what it can and returns the
// errors of the rest together; applying it again is harmless.
func (p Plan) Apply(ctx context.Context, m Mode) ([]string, error) {
	var changes []string
	var errs []error
	for _, a := range p.Apps {
		n := a.Normal
		if m.InEmergency() {
			n = a.Emergency
		}
		if err := a.App.Scale(ctx, n); err != nil {
			errs = append(errs, err)
			continue
		}
		if a.Normal != a.Emergency {
			changes = append(changes, fmt.Sprintf("%s: %d instances here", a.Name, n))
		}
	}
	for _, r := range p.Routes {
		if m.InEmergency() {
			r.Fallback.On(p.Message)
			changes = append(changes, fmt.Sprintf("route %s: the cache's copy or the fallback page", r.Label))
		} else {
			r.Fallback.Off()
			changes = append(changes, fmt.Sprintf("route %s: served", r.Label))
		}
	}
	return changes, errors.Join(errs...)
}
