package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tandem-run/tandem/internal/atomicfile"
)

// FileTokenStore keeps tokens in one JSON file (mode 0600), rewritten
// atomically on every change: the store of a single node. The file is
// read on first use and then served from memory; only this store writes
// it.
type FileTokenStore struct {
	path string

	writeMu sync.Mutex // serialises changes: read, modify, write the file

	mu     sync.Mutex // guards the fields below; never held across I/O
	tokens map[string]Token
	loaded bool
}

var _ TokenStore = (*FileTokenStore)(nil)

// tokenFile is the file's content.
type tokenFile struct {
	Tokens []Token `json:"tokens"`
}

// NewFileTokenStore returns a store kept at path. It touches nothing
// until used; the directory must exist by then.
func NewFileTokenStore(path string) *FileTokenStore {
	return &FileTokenStore{path: path}
}

// Create adds t.
func (s *FileTokenStore) Create(ctx context.Context, t Token) error {
	return s.update(func(m map[string]Token) error {
		if _, ok := m[t.ID]; ok {
			return Errorf(ErrConflict, "token %s exists", t.ID)
		}
		m[t.ID] = t
		return nil
	})
}

// List returns every token, oldest first.
func (s *FileTokenStore) List(ctx context.Context) ([]Token, error) {
	m, err := s.snapshot()
	if err != nil {
		return nil, err
	}
	ts := slices.Collect(maps.Values(m))
	slices.SortFunc(ts, func(a, b Token) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return ts, nil
}

// Revoke removes the token id.
func (s *FileTokenStore) Revoke(ctx context.Context, id string) error {
	return s.update(func(m map[string]Token) error {
		if _, ok := m[id]; !ok {
			return Errorf(ErrNotFound, "no token %q", id)
		}
		delete(m, id)
		return nil
	})
}

// Lookup returns the token id.
func (s *FileTokenStore) Lookup(ctx context.Context, id string) (Token, error) {
	m, err := s.snapshot()
	if err != nil {
		return Token{}, err
	}
	t, ok := m[id]
	if !ok {
		return Token{}, Errorf(ErrNotFound, "no token %q", id)
	}
	return t, nil
}

// Touch records a use of the token id; a revoked token is not an error.
func (s *FileTokenStore) Touch(ctx context.Context, id string, at time.Time) error {
	return s.update(func(m map[string]Token) error {
		if t, ok := m[id]; ok && at.After(t.LastUsed) {
			t.LastUsed = at.UTC()
			m[id] = t
		}
		return nil
	})
}

// snapshot returns the tokens, reading the file on first use. The map
// returned is never modified: update replaces it.
func (s *FileTokenStore) snapshot() (map[string]Token, error) {
	if m, ok := s.cached(); ok {
		return m, nil
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	return s.loadLockedWrite()
}

// loadLockedWrite reads the file unless it was read already. The caller
// holds writeMu, so no change can run meanwhile.
func (s *FileTokenStore) loadLockedWrite() (map[string]Token, error) {
	if m, ok := s.cached(); ok {
		return m, nil
	}
	data, err := os.ReadFile(s.path)
	m := map[string]Token{}
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("read tokens: %w", err)
	default:
		var f tokenFile
		if err := json.Unmarshal(data, &f); err != nil {
			return nil, fmt.Errorf("read tokens: %s: %w", s.path, err)
		}
		for _, t := range f.Tokens {
			m[t.ID] = t
		}
	}
	s.mu.Lock()
	s.tokens, s.loaded = m, true
	s.mu.Unlock()
	return m, nil
}

// cached returns the tokens if the file was read.
func (s *FileTokenStore) cached() (map[string]Token, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens, s.loaded
}

// update applies change to a copy of the tokens, writes the file and
// then serves the copy. If change or the write fails, nothing changes.
func (s *FileTokenStore) update(change func(map[string]Token) error) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	cur, err := s.loadLockedWrite()
	if err != nil {
		return err
	}
	next := maps.Clone(cur)
	if err := change(next); err != nil {
		return err
	}
	f := tokenFile{Tokens: slices.Collect(maps.Values(next))}
	slices.SortFunc(f.Tokens, func(a, b Token) int { return strings.Compare(a.ID, b.ID) })
	if err := atomicfile.WriteJSON(s.path, f, 0o600); err != nil {
		return fmt.Errorf("save tokens: %w", err)
	}
	s.mu.Lock()
	s.tokens = next
	s.mu.Unlock()
	return nil
}
