package pgha

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tandem-run/tandem/internal/pgtest"
)

// BenchmarkEndpointRoundTrip compares the same query made directly to a
// server and through the endpoint. Each iteration makes one of each, in
// turn, so both see the same load on a shared machine; the benchmark
// reports each one's time and their ratio (endpoint/direct), the
// endpoint's cost.
//
//   - select1: SELECT 1, a round trip of small messages (extended protocol,
//     as pgx speaks it).
//   - rows: 1000 rows of 1KB each, about 1MB from the server.
func BenchmarkEndpointRoundTrip(b *testing.B) {
	pg := pgtest.Start(b, pgtest.Config{})
	e := runEndpoint(b, EndpointOptions{})
	e.SetTarget(pg.Addr)
	direct := mustConnect(b, DatabaseURL(pg.Addr, "postgres", pgtest.Password, "postgres"))
	relayed := mustConnect(b, endpointURL(e))
	for _, bc := range []struct {
		name  string
		query func(context.Context, *pgx.Conn) error
	}{
		{"select1", func(ctx context.Context, c *pgx.Conn) error {
			var one int
			return c.QueryRow(ctx, "SELECT 1").Scan(&one)
		}},
		{"rows", func(ctx context.Context, c *pgx.Conn) error {
			rows, err := c.Query(ctx, "SELECT repeat('x', 1000) FROM generate_series(1, 1000)")
			if err != nil {
				return err
			}
			for rows.Next() {
			}
			return rows.Err()
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var tDirect, tRelayed time.Duration
			for b.Loop() {
				for _, c := range []struct {
					conn *pgx.Conn
					sum  *time.Duration
				}{{direct, &tDirect}, {relayed, &tRelayed}} {
					start := time.Now()
					if err := bc.query(b.Context(), c.conn); err != nil {
						b.Fatal(err)
					}
					*c.sum += time.Since(start)
				}
			}
			n := float64(b.N)
			b.ReportMetric(float64(tDirect.Nanoseconds())/n, "direct-ns/query")
			b.ReportMetric(float64(tRelayed.Nanoseconds())/n, "endpoint-ns/query")
			b.ReportMetric(float64(tRelayed)/float64(tDirect), "endpoint/direct")
		})
	}
}
