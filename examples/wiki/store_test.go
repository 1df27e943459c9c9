package main

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestConcurrentMigrate starts several migrators at once on a new file, as
// several instances starting together do: each must succeed, and the
// migrations must be applied exactly once.
func TestConcurrentMigrate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "wiki.db")
	ms, err := migrations(sqliteDialect)
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, err := OpenStore(t.Context(), path)
			if err != nil {
				errs[i] = err
				return
			}
			stores[i] = s
			_, _, errs[i] = s.Migrate(t.Context())
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("migrator %d: %v", i, err)
		}
		if stores[i] != nil {
			t.Cleanup(func() { stores[i].Close() })
		}
	}
	if t.Failed() {
		return
	}

	var count, version int
	if err := stores[0].db.QueryRow("SELECT COUNT(*), MAX(version) FROM schema_version").Scan(&count, &version); err != nil {
		t.Fatal(err)
	}
	if want := ms[len(ms)-1].version; count != len(ms) || version != want {
		t.Errorf("schema_version has %d rows, max %d; want %d rows, max %d", count, version, len(ms), want)
	}
	var mode string
	if err := stores[0].db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}

	// Migrating again changes nothing.
	from, to, err := stores[1].Migrate(t.Context())
	if err != nil || from != to {
		t.Errorf("second Migrate() = %d, %d, %v; want no change", from, to, err)
	}

	// And every handle can write at once: writers queue on the lock.
	for i, s := range stores {
		wg.Go(func() {
			for j := range 5 {
				title := fmt.Sprintf("P%d", i)
				base := int64(0)
				if cur, err := s.Page(t.Context(), title); err == nil {
					base = cur.ID
				}
				if _, err := s.SavePage(t.Context(), Edit{Title: title, Body: fmt.Sprint(j), Author: "a", BaseRev: base}); err != nil {
					t.Errorf("handle %d: save %d: %v", i, j, err)
				}
			}
		})
	}
	wg.Wait()
	pages, err := stores[0].Pages(t.Context())
	if err != nil || len(pages) != n {
		t.Errorf("Pages() = %d pages, %v; want %d", len(pages), err, n)
	}
}

// TestSessionTokenHashed: the database keeps a session's token hashed, so
// a copy of it hands out no live session.
func TestSessionTokenHashed(t *testing.T) {
	s := openTestStoreSQLite(t, filepath.Join(t.TempDir(), "wiki.db"))
	sess, err := s.CreateSession(t.Context(), "alice", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	var stored string
	if err := s.db.QueryRow("SELECT token_hash FROM sessions").Scan(&stored); err != nil || stored != hashToken(sess.Token) {
		t.Errorf("stored token = %q, %v; want its SHA-256, %q", stored, err, hashToken(sess.Token))
	}
}
