package pgha

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// queryTimeout bounds every query tandem makes to its own PostgreSQL: a
// server that hangs must not stop the member from renewing or demoting.
const queryTimeout = time.Second

// localConn is tandem's connection to its own PostgreSQL over the Unix
// socket, as the superuser (peer authentication, mapped). Only the
// member's loop goroutine uses it.
type localConn struct {
	cfg  *pgx.ConnConfig
	conn *pgx.Conn
	// reloadPending: the server was started and has not yet been asked to
	// reload its configuration (see Member.startPostgres).
	reloadPending bool
}

func newLocalConn(l layout, port int) (*localConn, error) {
	cfg, err := pgx.ParseConfig(fmt.Sprintf("host=%s port=%d user=%s dbname=postgres sslmode=disable connect_timeout=2 application_name=tandem",
		l.run(), port, superuser))
	if err != nil {
		return nil, fmt.Errorf("local connection: %w", err)
	}
	return &localConn{cfg: cfg}, nil
}

// get returns an open connection, connecting if needed.
func (c *localConn) get(ctx context.Context) (*pgx.Conn, error) {
	if c.conn != nil && !c.conn.IsClosed() {
		return c.conn, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*queryTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, c.cfg)
	if err != nil {
		return nil, err
	}
	c.conn = conn
	return conn, nil
}

// close drops the connection (after a failure, or when postgres stops).
func (c *localConn) close() {
	if c.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		c.conn.Close(ctx)
		cancel()
		c.conn = nil
	}
}

// exec runs sql with a deadline, dropping the connection on failure.
func (c *localConn) exec(ctx context.Context, timeout time.Duration, sql string, args ...any) error {
	conn, err := c.get(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		c.close()
		return err
	}
	return nil
}

// hasData reports whether the data directory holds a database cluster.
func hasData(l layout) (bool, error) {
	_, err := os.Stat(filepath.Join(l.data(), "PG_VERSION"))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// observeRunning fills in a running server's state; an error means it
// does not answer (yet).
func (c *localConn) observeRunning(ctx context.Context, l *Local, slotOwner map[string]string) error {
	conn, err := c.get(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	var inRecovery bool
	var sysid int64
	if err := conn.QueryRow(ctx, "SELECT pg_is_in_recovery(), (SELECT system_identifier FROM pg_control_system())").Scan(&inRecovery, &sysid); err != nil {
		c.close()
		return err
	}
	l.SysID = uint64(sysid)
	if c.reloadPending {
		// Not an observation's failure if it fails: the next one asks again.
		if _, err := conn.Exec(ctx, "SELECT pg_reload_conf()"); err == nil {
			c.reloadPending = false
		}
	}
	if inRecovery {
		l.State = PGStandby
		err = observeStandby(ctx, conn, l)
	} else {
		l.State = PGPrimary
		err = observePrimary(ctx, conn, l, slotOwner)
	}
	if err != nil {
		c.close()
	}
	return err
}

func observeStandby(ctx context.Context, conn *pgx.Conn, l *Local) error {
	var recv, replay, status string
	var tl int64
	err := conn.QueryRow(ctx, `SELECT coalesce(pg_last_wal_receive_lsn()::text, ''), coalesce(pg_last_wal_replay_lsn()::text, ''),
		coalesce((SELECT status FROM pg_stat_wal_receiver), ''),
		coalesce((SELECT received_tli FROM pg_stat_wal_receiver), (SELECT timeline_id FROM pg_control_checkpoint()))`).
		Scan(&recv, &replay, &status, &tl)
	if err != nil {
		return err
	}
	l.Timeline, l.Streaming = uint32(tl), status == "streaming"
	if replay != "" {
		l.ReplayLSN, _ = ParseLSN(replay)
	}
	l.LSN = l.ReplayLSN
	if recv != "" {
		if r, err := ParseLSN(recv); err == nil && r > l.LSN {
			l.LSN = r
		}
	}
	return nil
}

func observePrimary(ctx context.Context, conn *pgx.Conn, l *Local, slotOwner map[string]string) error {
	var flush, walfile string
	var cptl int64
	if err := conn.QueryRow(ctx, `SELECT pg_current_wal_flush_lsn()::text, pg_walfile_name(pg_current_wal_lsn()),
		(SELECT timeline_id FROM pg_control_checkpoint())`).Scan(&flush, &walfile, &cptl); err != nil {
		return err
	}
	l.CheckpointTimeline = uint32(cptl)
	l.LSN, _ = ParseLSN(flush)
	l.ReplayLSN = l.LSN
	if len(walfile) >= 8 {
		tl, _ := strconv.ParseUint(walfile[:8], 16, 32)
		l.Timeline = uint32(tl)
	}
	rows, err := conn.Query(ctx, `SELECT application_name, coalesce(state, ''), coalesce(sync_state, ''),
		coalesce(flush_lsn::text, ''), coalesce(replay_lsn::text, ''), reply_time,
		coalesce(extract(epoch FROM replay_lag)::float8, 0)
		FROM pg_stat_replication`)
	if err != nil {
		return err
	}
	l.Replicas = l.Replicas[:0]
	for rows.Next() {
		var r Replica
		var state, flushS, replayS string
		var reply *time.Time
		if err := rows.Scan(&r.Name, &state, &r.SyncState, &flushS, &replayS, &reply, &r.LagSecs); err != nil {
			rows.Close()
			return err
		}
		r.Streaming, r.Sync = state == "streaming", r.SyncState == "sync"
		r.Flush, _ = ParseLSN(flushS)
		r.Replay, _ = ParseLSN(replayS)
		if reply != nil {
			r.ReplyTime = *reply
		}
		l.Replicas = append(l.Replicas, r)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	slots, err := conn.Query(ctx, `SELECT slot_name FROM pg_replication_slots WHERE slot_type = 'physical' AND slot_name LIKE 'tandem\_%'`)
	if err != nil {
		return err
	}
	names, err := pgx.CollectRows(slots, pgx.RowTo[string])
	if err != nil {
		return err
	}
	l.Slots = l.Slots[:0]
	for _, n := range names {
		if owner, ok := slotOwner[n]; ok {
			n = owner
		}
		l.Slots = append(l.Slots, n)
	}
	return nil
}
