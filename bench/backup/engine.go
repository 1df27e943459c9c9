package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// engine is one backup system with one repository: tandem's backup
// package or pgBackRest. The benchmark drives both through the same
// steps and measures them the same way.
type engine interface {
	// boot starts what runs beside PostgreSQL on its machine (tandem's
	// archiver, in the server's box) and returns the settings the server
	// archives with. Called before the server starts; again for the same
	// server, it only returns the settings.
	boot(ctx context.Context, srv *server) ([]string, error)
	// attach readies the repository once the server runs (pgBackRest's
	// stanza-create) and checks that a WAL switch reaches the archive.
	attach(ctx context.Context, srv *server) error
	// backup takes a full base backup of the server it was booted with.
	backup(ctx context.Context) (backupInfo, error)
	// restore makes dir (absent) from backup id: unpacked, checked, and
	// set to recover from the archive to its end with archiving off. The
	// caller starts PostgreSQL on it.
	restore(ctx context.Context, id, dir string) error
	// close stops what boot started; the server is stopped or crashed
	// first.
	close() error
}

// backupInfo is what a backup reports.
type backupInfo struct {
	ID          string
	ToolBytes   int64 // the data the system says it backed up
	StoredBytes int64 // the backup in the repository, WAL not included
}

// env is what engines need from the run.
type env struct {
	pg         pgEnv
	exe        string // a copy of this program the postgres user can run
	pgbackrest string // pgBackRest's program
	gw         *gateway
	processMax int
}

// newEngine makes the engine of a setup, with its files in dir.
func newEngine(e env, s setup, dir string) (engine, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if s.Store == storeS3 && e.gw == nil {
		return nil, errors.New("an S3 setup without the gateway")
	}
	switch s.System {
	case systemTandem:
		return newTandemEngine(e, s, dir)
	case systemPgBackRest:
		return newPgBackRest(e, s, dir)
	}
	return nil, fmt.Errorf("unknown system %q", s.System)
}

// cost is what one operation took: wall time, and CPU time of the
// benchmark process and its children (the tool: tandem's backup package
// runs in it, pgBackRest is a child) and of the boxes' processes (the
// servers, their archivers).
type cost struct {
	Wall      time.Duration `json:"wall_ns"`
	ToolCPU   time.Duration `json:"tool_cpu_ns"`
	ServerCPU time.Duration `json:"server_cpu_ns"`
}

// meter measures an operation: start reads the counters, and stop the
// differences.
type meter struct {
	start  time.Time
	self   time.Duration
	boxes  []*box
	boxCPU []time.Duration
}

func startMeter(boxes ...*box) *meter {
	m := &meter{start: time.Now(), self: selfCPU(), boxes: boxes}
	for _, b := range boxes {
		c, _ := b.cpu()
		m.boxCPU = append(m.boxCPU, c)
	}
	return m
}

func (m *meter) stop() cost {
	c := cost{Wall: time.Since(m.start), ToolCPU: selfCPU() - m.self}
	for i, b := range m.boxes {
		if now, err := b.cpu(); err == nil {
			c.ServerCPU += now - m.boxCPU[i]
		}
	}
	return c
}

// selfCPU is the CPU time of this process and of its children that were
// waited for (pg_basebackup, pgBackRest and what they waited for).
func selfCPU() time.Duration {
	var total time.Duration
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if syscall.Getrusage(who, &ru) == nil {
			total += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	return total
}

// pgQuote quotes a value for postgresql.conf.
func pgQuote(s string) string {
	out := []byte{'\''}
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			out = append(out, '\'')
		}
		out = append(out, s[i])
	}
	return string(append(out, '\''))
}

// emitAndSwitch writes a WAL record (a switch on an idle server would
// not happen) and ends the segment; it returns the segment's name.
func emitAndSwitch(ctx context.Context, srv *server) (string, error) {
	return srv.queryString(ctx, "SELECT pg_walfile_name(lsn) FROM (SELECT pg_logical_emit_message(false, 'bench', 'switch'), pg_switch_wal() AS lsn) x")
}
