package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// storeContract is what every Store does, whatever its database: the
// same tests run on SQLite and on PostgreSQL. open returns a migrated,
// empty store; called twice in one test, it returns a second handle on the
// same database (another instance of the wiki).
func storeContract(t *testing.T, open func(t *testing.T) *Store) {
	t.Run("migrate again", func(t *testing.T) {
		s := open(t)
		ms, _ := migrations(s.dialect)
		from, to, err := s.Migrate(t.Context())
		if err != nil || from != to || to != ms[len(ms)-1].version {
			t.Errorf("Migrate() on a migrated store = %d, %d, %v; want no change at version %d", from, to, err, ms[len(ms)-1].version)
		}
	})
	t.Run("pages", func(t *testing.T) { contractPages(t, open(t)) })
	t.Run("concurrent saves", func(t *testing.T) { contractConcurrentSaves(t, open) })
	t.Run("save retried", func(t *testing.T) { contractSaveRetried(t, open(t)) })
	t.Run("sessions", func(t *testing.T) { contractSessions(t, open(t)) })
	t.Run("files", func(t *testing.T) { contractFiles(t, open(t)) })
}

func contractPages(t *testing.T, s *Store) {
	ctx := t.Context()
	if id, at, err := s.LastChange(ctx); err != nil || id != 0 || !at.IsZero() {
		t.Errorf("LastChange() on an empty wiki = %d, %v, %v; want 0", id, at, err)
	}
	// Titles sort by their bytes: upper case before lower case, é last.
	var revs []Revision
	for _, title := range []string{"b", "Zeta", "a", "Été", "B"} {
		r, err := s.SavePage(ctx, Edit{Title: title, Body: "body of " + title, Author: "alice", Comment: "new"})
		if err != nil {
			t.Fatalf("SavePage(%q): %v", title, err)
		}
		revs = append(revs, r)
	}
	pages, err := s.Pages(ctx)
	var titles []string
	for _, p := range pages {
		titles = append(titles, p.Title)
	}
	if err != nil || fmt.Sprint(titles) != "[B Zeta a b Été]" {
		t.Errorf("Pages() = %q, %v; want [B Zeta a b Été]", titles, err)
	}
	r2, err := s.SavePage(ctx, Edit{Title: "a", Body: "second", Author: "bob", BaseRev: revs[2].ID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SavePage(ctx, Edit{Title: "a", Body: "stale", Author: "carol", BaseRev: revs[2].ID}); !errors.Is(err, ErrEditConflict) {
		t.Errorf("SavePage from a stale base: %v; want ErrEditConflict", err)
	}
	if _, err := s.SavePage(ctx, Edit{Title: "a", Body: "as new", Author: "carol"}); !errors.Is(err, ErrEditConflict) {
		t.Errorf("SavePage of an existing page as new: %v; want ErrEditConflict", err)
	}
	if _, err := s.SavePage(ctx, Edit{Title: "nothing", Body: "x", Author: "carol", BaseRev: r2.ID}); !errors.Is(err, ErrEditConflict) {
		t.Errorf("SavePage of a missing page from a base: %v; want ErrEditConflict", err)
	}
	cur, err := s.Page(ctx, "a")
	if err != nil || cur.ID != r2.ID || cur.Body != "second" || cur.Author != "bob" || !cur.Created.Equal(r2.Created) {
		t.Errorf("Page(a) = %+v, %v; want revision %d by bob", cur, err, r2.ID)
	}
	old, err := s.Revision(ctx, "a", revs[2].ID)
	if err != nil || old.Body != "body of a" {
		t.Errorf("Revision(a, %d) = %+v, %v; want the first body", revs[2].ID, old, err)
	}
	if _, err := s.Revision(ctx, "b", revs[2].ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Revision of another page's id: %v; want ErrNotFound", err)
	}
	if _, err := s.Page(ctx, "missing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Page(missing): %v; want ErrNotFound", err)
	}
	hist, err := s.History(ctx, "a", 10)
	if err != nil || len(hist) != 2 || hist[0].ID != r2.ID || hist[1].ID != revs[2].ID || hist[0].Body != "" {
		t.Errorf("History(a) = %+v, %v; want 2 revisions newest first, bodies empty", hist, err)
	}
	if id, _, err := s.LastChange(ctx); err != nil || id != r2.ID {
		t.Errorf("LastChange() = %d, %v; want %d", id, err, r2.ID)
	}
}

// contractConcurrentSaves: several instances save the same page from the
// same base at once; exactly one wins each round, the others are told of
// the conflict, and no edit is lost silently.
func contractConcurrentSaves(t *testing.T, open func(t *testing.T) *Store) {
	const handles, rounds = 4, 5
	stores := make([]*Store, handles)
	for i := range stores {
		stores[i] = open(t)
	}
	ctx := t.Context()
	base := int64(0)
	for round := range rounds {
		var wins atomic.Int32
		var winner atomic.Int64
		var wg sync.WaitGroup
		for i, s := range stores {
			wg.Go(func() {
				r, err := s.SavePage(ctx, Edit{Title: "Hot", Body: fmt.Sprintf("round %d by %d", round, i), Author: "a", BaseRev: base})
				switch {
				case err == nil:
					wins.Add(1)
					winner.Store(r.ID)
				case !errors.Is(err, ErrEditConflict):
					t.Errorf("round %d, handle %d: %v", round, i, err)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("round %d: %d saves won from base %d; want exactly 1", round, wins.Load(), base)
		}
		cur, err := stores[0].Page(ctx, "Hot")
		if err != nil || cur.ID != winner.Load() {
			t.Fatalf("round %d: page at %d, %v; want the winner's %d", round, cur.ID, err, winner.Load())
		}
		base = cur.ID
	}
	if hist, err := stores[0].History(ctx, "Hot", 100); err != nil || len(hist) != rounds {
		t.Errorf("History = %d revisions, %v; want %d: the losers left none", len(hist), err, rounds)
	}
}

// contractSaveRetried: a save tried again with the same key, as after a
// commit whose answer was lost, returns the revision it made the first
// time instead of a conflict with itself.
func contractSaveRetried(t *testing.T, s *Store) {
	ctx := t.Context()
	e := Edit{Title: "P", Body: "once", Author: "alice", Key: randomToken()}
	first, err := s.SavePage(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.SavePage(ctx, e)
	if err != nil || again.ID != first.ID || again.Body != "once" {
		t.Errorf("SavePage again with the same key = %+v, %v; want revision %d", again, err, first.ID)
	}
	if hist, _ := s.History(ctx, "P", 10); len(hist) != 1 {
		t.Errorf("History = %d revisions; want 1", len(hist))
	}
}

func contractSessions(t *testing.T, s *Store) {
	ctx := t.Context()
	sess, err := s.CreateSession(ctx, "alice", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Session(ctx, sess.Token)
	if err != nil || got.Username != "alice" || got.CSRF != sess.CSRF || !got.Expires.Equal(sess.Expires) {
		t.Errorf("Session() = %+v, %v; want alice's", got, err)
	}
	expired, err := s.CreateSession(ctx, "bob", -time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, expired.Token); !errors.Is(err, ErrNotFound) {
		t.Errorf("Session(expired) err = %v; want ErrNotFound", err)
	}
	if _, err := s.Session(ctx, "no such token"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Session(unknown) err = %v; want ErrNotFound", err)
	}
	if err := s.DeleteSession(ctx, sess.Token); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSession(ctx, sess.Token); err != nil {
		t.Errorf("DeleteSession twice: %v; want nil", err)
	}
	if _, err := s.Session(ctx, sess.Token); !errors.Is(err, ErrNotFound) {
		t.Errorf("Session(deleted) err = %v; want ErrNotFound", err)
	}
}

func contractFiles(t *testing.T, s *Store) {
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Second)
	a := File{Name: "a.png", SHA256: "aa", ContentType: "image/png", Size: 3, UploadedBy: "alice", Created: now.Add(-time.Minute)}
	b := File{Name: "b.txt", SHA256: "bb", ContentType: "text/plain", Size: 5 << 30, UploadedBy: "bob", Created: now}
	for _, f := range []File{a, b} {
		if err := s.AddFile(ctx, f); err != nil {
			t.Fatalf("AddFile(%s): %v", f.Name, err)
		}
	}
	if err := s.AddFile(ctx, a); err != nil {
		t.Errorf("AddFile of the same upload again: %v; want nil (a retried insert)", err)
	}
	other := a
	other.SHA256, other.UploadedBy = "cc", "carol"
	if err := s.AddFile(ctx, other); !errors.Is(err, ErrExists) {
		t.Errorf("AddFile of another upload under a taken name: %v; want ErrExists", err)
	}
	got, err := s.File(ctx, "b.txt")
	if err != nil || got.Size != b.Size || got.SHA256 != "bb" || !got.Created.Equal(b.Created) {
		t.Errorf("File(b.txt) = %+v, %v; want %+v", got, err, b)
	}
	if _, err := s.File(ctx, "c"); !errors.Is(err, ErrNotFound) {
		t.Errorf("File(missing): %v; want ErrNotFound", err)
	}
	files, err := s.Files(ctx)
	if err != nil || len(files) != 2 || files[0].Name != "b.txt" || files[1].Name != "a.png" {
		t.Errorf("Files() = %+v, %v; want b.txt then a.png, newest first", files, err)
	}
}

func TestStoreSQLite(t *testing.T) {
	paths := make(map[*testing.T]string) // each test's database
	storeContract(t, func(t *testing.T) *Store {
		if paths[t] == "" {
			paths[t] = filepath.Join(t.TempDir(), "wiki.db")
		}
		return openTestStoreSQLite(t, paths[t])
	})
}
