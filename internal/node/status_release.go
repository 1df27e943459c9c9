package node

import (
	"time"

	"github.com/tandem-run/tandem/internal/admin"
)

// releaseStatus adds an app's release, its deploy in progress (else its
// last deploy) and its gate to its status.
func (a *app) releaseStatus(as *admin.AppStatus) {
	now := time.Now()
	a.mu.Lock()
	as.Release = a.state.Current
	drv := a.deploy
	var last *admin.DeployRecord
	if n := len(a.state.Deploys); n > 0 {
		r := recordOf(a.state.Deploys[n-1], now)
		last = &r
	}
	a.mu.Unlock()
	if drv != nil {
		r := runningRecord(drv, now)
		last = &r
	}
	as.Deploy = last
	as.Gate = a.gateStatus()
}
