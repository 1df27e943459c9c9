package backuprun

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tandem-run/tandem/internal/cluster"
	"github.com/tandem-run/tandem/internal/cron"
)

// locker is the backup jobs' locker: its keys apart from the stack's
// jobs', and a run in progress holds its lock only while its node lives
// (an etcd session). The cron's own mark of a run outlives a crashed
// node for the job's whole timeout: no other node could take a base
// backup, nor run a restore test, for twelve hours.
type locker struct {
	cl     Cluster
	node   string
	prefix string
}

var _ cron.Locker = locker{}

func (l locker) TryLock(ctx context.Context, key string, ttl time.Duration) (func(context.Context) error, error) {
	if !strings.HasPrefix(key, cron.RunningKey) {
		// A firing: reserved for its window.
		release, err := l.cl.TryLockFor(ctx, l.prefix+key, l.node, ttl)
		if err != nil {
			return nil, lockErr(err)
		}
		return release, nil
	}
	lock, err := l.cl.TryLock(ctx, l.prefix+key, l.node)
	if err != nil {
		return nil, lockErr(err)
	}
	return lock.Unlock, nil
}

// lockErr makes a lock held elsewhere cron's ErrLocked.
func lockErr(err error) error {
	if errors.Is(err, cluster.ErrLocked) {
		return fmt.Errorf("%w: %w", cron.ErrLocked, err)
	}
	return err
}
