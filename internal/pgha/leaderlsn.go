package pgha

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// LeaderLSN reads the primary's WAL position through a DB endpoint: a
// follower site's node asks it after forwarding a write, so that a read
// of the same client is served by the site's standby only once it has
// replayed that far.
type LeaderLSN struct {
	pool *pgxpool.Pool
}

// NewLeaderLSN prepares at most conns connections to the endpoint at
// url (DatabaseURL, without a password); login gives the user and
// password of each new connection.
func NewLeaderLSN(url string, conns int32, login func(ctx context.Context) (user, password string, err error)) (*LeaderLSN, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("read the leader's wal position: %w", err)
	}
	cfg.MaxConns, cfg.MaxConnIdleTime = conns, time.Minute
	cfg.BeforeConnect = func(ctx context.Context, cc *pgx.ConnConfig) error {
		u, p, err := login(ctx)
		if err != nil {
			return err
		}
		cc.User, cc.Password = u, p
		return nil
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("read the leader's wal position: %w", err)
	}
	return &LeaderLSN{pool: pool}, nil
}

// Read returns the primary's insert position, which every commit
// acknowledged so far has reached, whatever the commits'
// synchronous_commit.
func (l *LeaderLSN) Read(ctx context.Context) (LSN, error) {
	var s string
	if err := l.pool.QueryRow(ctx, "SELECT pg_current_wal_insert_lsn()::text").Scan(&s); err != nil {
		return 0, fmt.Errorf("read the leader's wal position: %w", err)
	}
	return ParseLSN(s)
}

// Close closes the connections.
func (l *LeaderLSN) Close() { l.pool.Close() }
