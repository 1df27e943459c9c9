package pgha

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Bounds of the long actions.
const (
	initdbTimeout     = 5 * time.Minute
	cloneTimeout      = 6 * time.Hour
	rewindTimeout     = time.Hour
	checkpointTimeout = 10 * time.Minute
)

// initdb creates the database cluster with data checksums (pg_rewind
// needs them, or wal_log_hints) and the superuser's generated password;
// or, with Options.Bootstrap, restores it from a backup.
func (m *Member) initdb(ctx context.Context, c Credentials) error {
	if m.opts.Bootstrap != nil {
		return m.bootstrapFromBackup(ctx)
	}
	ctx, cancel := context.WithTimeout(ctx, initdbTimeout)
	defer cancel()
	if _, err := moveAside(m.l.data(), m.opts.Clock()); err != nil { // a partial initdb's
		return fmt.Errorf("initdb: %w", err)
	}
	pw := filepath.Join(m.l.root, ".pwfile")
	if err := writeOwned(pw, []byte(c.Superuser.Password+"\n"), 0o600, m.inst); err != nil {
		return fmt.Errorf("initdb: %w", err)
	}
	defer os.Remove(pw)
	if _, err := m.srv.program(ctx, "initdb", initdbArgs(m.l.data(), pw)...); err != nil {
		return err
	}
	return m.prepareData()
}

// initdbArgs are initdb's arguments for a data directory dir, the
// superuser's password read from pwfile.
func initdbArgs(dir, pwfile string) []string {
	return []string{"-D", dir, "--data-checksums", "--encoding=UTF8", "--locale=C.UTF-8",
		"--auth-local=peer", "--auth-host=scram-sha-256", "--username=" + superuser,
		"--pwfile=" + pwfile, "--no-instructions"}
}

// bootstrapFromBackup fills the data directory with Options.Bootstrap (a
// restore from a backup) and, when the restore asks for a recovery
// (recovery.signal), runs it to its end on a server of its own, which is
// promoted at the recovery target and then stopped. The loop starts it as
// the primary once it holds the lease. The recovery runs here, inside the
// long action, because the machine would promote a standby that holds the
// lease at once, cutting the recovery short.
func (m *Member) bootstrapFromBackup(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, cloneTimeout)
	defer cancel()
	if _, err := moveAside(m.l.data(), m.opts.Clock()); err != nil { // a failed attempt's
		return fmt.Errorf("bootstrap from backup: %w", err)
	}
	start := time.Now()
	if err := m.opts.Bootstrap(ctx, m.l.data()); err != nil {
		return fmt.Errorf("bootstrap from backup: %w", err)
	}
	// tandem's postgresql.conf, and none of the restore's settings tandem
	// owns (its restore_command: tandem's own reaches the same archive).
	if err := m.prepareData(); err != nil {
		return fmt.Errorf("bootstrap from backup: %w", err)
	}
	if _, err := os.Stat(filepath.Join(m.l.data(), "recovery.signal")); err == nil {
		if err := m.recoverFromArchive(ctx); err != nil {
			return fmt.Errorf("bootstrap from backup: %w", err)
		}
	}
	if err := m.dropRecoveryTargets(); err != nil {
		return fmt.Errorf("bootstrap from backup: %w", err)
	}
	m.log.Info("restored from a backup", "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// recoverFromArchive runs a restored directory's recovery: postgres
// with tandem's settings of a primary (restore_command and archiving as
// Options.Archive says, so the new timeline is archived), until it is
// promoted; then a fast shutdown, whose checkpoint makes the next start
// quick.
func (m *Member) recoverFromArchive(ctx context.Context) error {
	if err := writeOwned(m.l.confFile(), renderConf(m.opts.settings(m.l, role{})), 0o600, m.inst); err != nil {
		return err
	}
	if err := m.srv.start(); err != nil {
		return err
	}
	err := m.waitPromoted(ctx)
	if serr := m.srv.stop(false, checkpointTimeout); serr != nil && err == nil {
		err = serr
	}
	return err
}

// waitPromoted waits until the recovering server accepts writes, failing
// when it exits (a target it cannot reach, WAL it cannot fetch).
func (m *Member) waitPromoted(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if !m.srv.running() {
			logTail, _ := readTail(m.l.logFile(), 4096)
			return fmt.Errorf("recovery: postgres stopped: %s", tail(logTail, 3))
		}
		if done, err := m.recovered(ctx); err == nil && done {
			m.log.Info("recovery from the archive done: promoted")
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("recovery: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// recovered asks the server, on a connection of its own (the loop's is
// the loop's), whether its recovery is over.
func (m *Member) recovered(ctx context.Context) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, m.conn.cfg)
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var inRecovery bool
	err = conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery)
	return !inRecovery, err
}

// dropRecoveryTargets removes the restore's recovery targets from
// postgresql.auto.conf: a standby (this member later, or a clone of it,
// which copies the file) would otherwise stop at the target and promote.
func (m *Member) dropRecoveryTargets() error {
	auto, err := readFileIfExists(m.l.autoConf())
	if err != nil || auto == nil {
		return err
	}
	var out strings.Builder
	for line := range strings.Lines(string(auto)) {
		if strings.HasPrefix(confLineName(line), "recovery_target") {
			continue
		}
		out.WriteString(line)
	}
	return writeOwned(m.l.autoConf(), []byte(out.String()), 0o600, m.inst)
}

// finishBootstrap gives the roles their generated passwords, creates the
// app's role and database, and records the system identifier: members
// waiting to clone may start.
func (m *Member) finishBootstrap(ctx context.Context, obs Observation) error {
	c, err := m.credentials(ctx)
	if err != nil {
		return fmt.Errorf("finish bootstrap: %w", err)
	}
	lit := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	id := func(s string) string { return pgx.Identifier{s}.Sanitize() }
	stmts := []string{
		"SET log_statement = 'none'",
		"ALTER ROLE " + id(c.Superuser.User) + " PASSWORD " + lit(c.Superuser.Password),
	}
	for _, r := range []struct {
		role  Role
		attrs string
	}{{c.Replication, "REPLICATION LOGIN"}, {c.App, "LOGIN"}} {
		stmts = append(stmts,
			"DO $$BEGIN CREATE ROLE "+id(r.role.User)+"; EXCEPTION WHEN duplicate_object THEN NULL; END$$",
			"ALTER ROLE "+id(r.role.User)+" WITH "+r.attrs+" PASSWORD "+lit(r.role.Password))
	}
	for _, s := range stmts {
		if err := m.conn.exec(ctx, 10*time.Second, s); err != nil {
			return fmt.Errorf("finish bootstrap: %w", err)
		}
	}
	if err := m.createAppDatabase(ctx, m.opts.AppDatabase, c.App.User); err != nil {
		return err
	}
	val, _ := json.Marshal(initRecord{Holder: m.opts.Name, SysID: obs.Local.SysID})
	sctx, cancel := m.storeCtx(ctx)
	defer cancel()
	if err := m.opts.Store.FinishInitialize(sctx, m.keeper.id(), val); err != nil {
		return fmt.Errorf("finish bootstrap: %w", err)
	}
	m.log.Info("cluster bootstrapped", "sysid", obs.Local.SysID)
	m.storeChanged()
	return nil
}

// createAppDatabase creates the app's database, owned by its role, if it
// does not exist.
func (m *Member) createAppDatabase(ctx context.Context, app, owner string) error {
	conn, err := m.conn.get(ctx)
	if err != nil {
		return fmt.Errorf("create database %s: %w", app, err)
	}
	qctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var exists bool
	if err := conn.QueryRow(qctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", app).Scan(&exists); err != nil {
		m.conn.close()
		return fmt.Errorf("create database %s: %w", app, err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(qctx, "CREATE DATABASE "+pgx.Identifier{app}.Sanitize()+" OWNER "+pgx.Identifier{owner}.Sanitize()); err != nil {
		m.conn.close()
		return fmt.Errorf("create database %s: %w", app, err)
	}
	return nil
}

// clone replaces the data directory with a base backup of addr. The old
// directory is moved aside, not deleted.
func (m *Member) clone(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, cloneTimeout)
	defer cancel()
	if addr == "" {
		return errors.New("clone: the leader's address is not known yet")
	}
	tmp := m.l.data() + ".clone"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("clone: %w", err)
	}
	start := time.Now()
	if _, err := m.srv.program(ctx, "pg_basebackup", "-D", tmp, "-X", "stream", "-c", "fast", "--no-password",
		"-d", m.opts.conninfo(m.l, addr, replicationUser, "", "tandem-clone-"+m.opts.Name)); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("clone from %s: %w", addr, err)
	}
	old, err := moveAside(m.l.data(), m.opts.Clock())
	if err != nil {
		return fmt.Errorf("clone: %w", err)
	}
	if old != "" {
		m.log.Warn("previous data directory moved aside", "path", old)
	}
	if err := os.Rename(tmp, m.l.data()); err != nil {
		return fmt.Errorf("clone: %w", err)
	}
	m.log.Info("cloned", "from", addr, "took", time.Since(start).Round(time.Millisecond))
	return m.prepareData()
}

// rewind runs pg_rewind from addr on the stopped data directory, so that
// it can follow addr: the WAL it has and addr lacks is undone.
func (m *Member) rewind(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, rewindTimeout)
	defer cancel()
	if addr == "" {
		return errors.New("rewind: the leader's address is not known yet")
	}
	start := time.Now()
	out, err := m.srv.program(ctx, "pg_rewind", "-D", m.l.data(), "--source-server="+m.opts.conninfo(m.l, addr, superuser, "postgres", "tandem-rewind-"+m.opts.Name))
	if err != nil {
		return fmt.Errorf("rewind from %s: %w", addr, err)
	}
	m.log.Info("rewound", "from", addr, "took", time.Since(start).Round(time.Millisecond), "output", tail(out, 1))
	return m.prepareData()
}

// checkpoint runs CHECKPOINT on a connection of its own (the loop's is
// the loop's), so that the stop after it has little to write.
func (m *Member) checkpoint(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, checkpointTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, m.conn.cfg)
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "CHECKPOINT"); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}
