package pgha

import (
	"fmt"
	"testing"

	"github.com/tandem-run/tandem/internal/pgtest"
)

// BenchmarkEndpointRoundTrip compares a query round trip (SELECT 1 on one
// connection, the extended protocol as pgx speaks it) made directly to a
// server with one made through the endpoint. The ratio of the two ns/op
// is the endpoint's cost per round trip.
func BenchmarkEndpointRoundTrip(b *testing.B) {
	pg := pgtest.Start(b, pgtest.Config{})
	e := runEndpoint(b, EndpointOptions{})
	e.SetTarget(pg.Addr)
	direct := DatabaseURL(pg.Addr, "postgres", pgtest.Password, "postgres")
	for _, bc := range []struct{ name, url string }{{"direct", direct}, {"endpoint", endpointURL(e)}} {
		b.Run(bc.name, func(b *testing.B) {
			conn := mustConnect(b, bc.url)
			var one int
			for b.Loop() {
				if err := conn.QueryRow(b.Context(), "SELECT 1").Scan(&one); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	for _, bc := range []struct{ name, url string }{{"direct", direct}, {"endpoint", endpointURL(e)}} {
		b.Run("bulk-"+bc.name, func(b *testing.B) {
			conn := mustConnect(b, bc.url)
			for b.Loop() {
				rows, err := conn.Query(b.Context(), "SELECT repeat('x', 1000) FROM generate_series(1, 1000)")
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for rows.Next() {
					n++
				}
				if rows.Err() != nil || n != 1000 {
					b.Fatal(fmt.Sprint(n, rows.Err()))
				}
			}
		})
	}
}
