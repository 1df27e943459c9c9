package host

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// WriteLoop is the write load both database benchmarks put on
// PostgreSQL: attempt id, every interval until ctx ends, opens a
// connection if it has none and calls write on it; when either fails it
// calls failed and drops the connection, replaced at the next tick.
func WriteLoop(ctx context.Context, interval time.Duration,
	connect func(context.Context) (*pgx.Conn, error),
	write func(ctx context.Context, conn *pgx.Conn, id int64) error,
	failed func(id int64, err error)) {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for id := int64(1); ; id++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if conn == nil {
			c, err := connect(ctx)
			if err != nil {
				failed(id, err)
				continue
			}
			conn = c
		}
		if err := write(ctx, conn, id); err != nil {
			failed(id, err)
			conn.Close(context.Background())
			conn = nil
		}
	}
}
