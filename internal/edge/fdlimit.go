package edge

import (
	"fmt"
	"syscall"
)

// Bounds of the default connection limit.
const (
	minDefaultConnections = 64
	maxDefaultConnections = 1 << 20
)

// openFileLimit returns the process's soft limit on open descriptors.
// Go raises the soft limit to (one below) the hard limit as a program
// starts (syscall's init, since Go 1.19), so this is what the node may
// really open; only the hard limit (ulimit -Hn, systemd's LimitNOFILE)
// raises it further.
func openFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("get open file limit: %w", err)
	}
	return lim.Cur, nil
}

// defaultMaxConnections is the connection limit for a descriptor limit:
// half of it, the other half left for what each client connection may
// bring along (a connection to an instance, a body's temp file) and for
// the node's own needs (health checks, etcd, the cache, logs).
func defaultMaxConnections(fdLimit uint64) int {
	return int(min(max(fdLimit/2, minDefaultConnections), maxDefaultConnections))
}
