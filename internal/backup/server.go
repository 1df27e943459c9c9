package backup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// server runs PostgreSQL on a restored data directory, reachable only on
// a Unix socket in a directory of the postgres user's: the copy holds
// production data and trusts local connections (see restoreSettings), so
// it listens on no TCP port.
type server struct {
	pg      Postgres
	dir     string // data directory
	sockDir string
	port    int
	logFile string
	hbaFile string // client authentication for this run; "": the data directory's
}

const serverPort = 5432 // names the socket file only: the socket directory is the copy's own

func newServer(pg Postgres, dir, sockDir string) *server {
	return &server{pg: pg, dir: dir, sockDir: sockDir, port: serverPort, logFile: filepath.Join(sockDir, "postgres.log")}
}

// start starts the server and waits (up to timeout) until it accepts
// connections: for a server in recovery, once it is consistent.
func (s *server) start(ctx context.Context, timeout time.Duration) error {
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=''", s.port, s.sockDir)
	if s.hbaFile != "" {
		opts += " -c hba_file=" + s.hbaFile
	}
	_, err := s.pg.run(ctx, "pg_ctl", "start", "-D", s.dir, "-l", s.logFile, "-w",
		"-t", strconv.Itoa(int(timeout.Seconds())), "-o", opts)
	if err != nil {
		return fmt.Errorf("start postgres on %s: %w\nserver log: %s", s.dir, err, s.logTail())
	}
	return nil
}

// stop shuts the server down (fast mode), within a minute, else kills it.
func (s *server) stop(ctx context.Context) error {
	if !s.running() {
		return nil
	}
	_, err := s.pg.run(ctx, "pg_ctl", "stop", "-D", s.dir, "-m", "fast", "-w", "-t", "60")
	if err != nil && s.running() {
		s.pg.run(ctx, "pg_ctl", "kill", "KILL", strconv.Itoa(s.pid()))
		return fmt.Errorf("stop postgres on %s: %w", s.dir, err)
	}
	return nil
}

// pid is the postmaster's pid from postmaster.pid; 0 if none.
func (s *server) pid() int {
	b, err := os.ReadFile(filepath.Join(s.dir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(line))
	return pid
}

func (s *server) running() bool {
	pid := s.pid()
	return pid > 0 && syscall.Kill(pid, 0) == nil
}

func (s *server) connString(user, db string) string {
	return fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable connect_timeout=10", s.sockDir, s.port, user, db)
}

func (s *server) connect(ctx context.Context, user string) (*pgx.Conn, error) {
	return pgx.Connect(ctx, s.connString(user, "postgres"))
}

// logTail is the end of the server's log, for errors.
func (s *server) logTail() string {
	b, _ := os.ReadFile(s.logFile)
	return tail(string(b), 3000)
}

// recoveredPoint is where a restored server's recovery ended.
type recoveredPoint struct {
	LSN        LSN
	LastCommit time.Time // the last transaction replayed; zero if none was
	Timeline   uint32
}

// waitRecovered waits until recovery has ended and the server is promoted
// (recovery_target_action = promote, or the end of the archive), failing
// early if the server exits, and reports where replay stopped.
func (s *server) waitRecovered(ctx context.Context, user string, timeout time.Duration) (recoveredPoint, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.WithoutCancel(ctx))
		}
	}()
	for {
		if !s.running() {
			return recoveredPoint{}, fmt.Errorf("%w: server log: %s", errRecoveryFailed, s.logTail())
		}
		if conn == nil {
			conn, _ = s.connect(ctx, user)
		}
		if conn != nil {
			var inRecovery bool
			if err := conn.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&inRecovery); err != nil {
				conn.Close(ctx)
				conn = nil
			} else if !inRecovery {
				return s.point(ctx, conn)
			}
		}
		select {
		case <-ctx.Done():
			return recoveredPoint{}, fmt.Errorf("recovery not done after %s: %w", timeout, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

var errRecoveryFailed = errors.New("recovery failed: the server stopped")

func (s *server) point(ctx context.Context, conn *pgx.Conn) (recoveredPoint, error) {
	var lsn string
	var last *time.Time
	var wal string
	err := conn.QueryRow(ctx, `SELECT coalesce(pg_last_wal_replay_lsn(), '0/0')::text, pg_last_xact_replay_timestamp(),
		pg_walfile_name(pg_current_wal_lsn())`).Scan(&lsn, &last, &wal)
	if err != nil {
		return recoveredPoint{}, fmt.Errorf("read the restored point: %w", err)
	}
	var p recoveredPoint
	if n, err := ParseWALName(wal); err == nil {
		p.Timeline = n.Timeline
	}
	p.LSN, _ = ParseLSN(lsn)
	if last != nil {
		p.LastCommit = last.UTC()
	}
	return p, nil
}
