package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"sync"
	"time"
)

// ErrAuditUnavailable means an audit entry could not be written: the API
// then refuses to change anything (503) rather than act unrecorded.
var ErrAuditUnavailable = errors.New("audit log unavailable")

// AuditEntry is one line of the audit log. A call that changes something
// has two entries with the same Request: "started", written before it
// runs (so that nothing runs unrecorded), and one with its outcome. A
// refused call (401, 403) has one entry, "denied".
type AuditEntry struct {
	Time      time.Time `json:"time"`
	Request   string    `json:"request,omitempty"`  // ties a call's started and finished entries
	TokenID   string    `json:"token_id,omitempty"` // "" when the caller was not authenticated
	TokenName string    `json:"token_name"`         // "anonymous" when the caller was not authenticated
	Remote    string    `json:"remote"`
	Method    string    `json:"method"`
	Path      string    `json:"path"`
	Status    int       `json:"status,omitempty"` // 0 on a started entry
	Outcome   string    `json:"outcome"`          // started, ok, failed, denied
	Reason    string    `json:"reason,omitempty"` // why a call was denied
	// Summary says what a deploy, rollback, purge or token change asked
	// for (never secrets or environment values).
	Summary string `json:"summary,omitempty"`
}

// Audit outcomes.
const (
	OutcomeStarted = "started"
	OutcomeOK      = "ok"     // answered 2xx or 3xx
	OutcomeFailed  = "failed" // answered 4xx or 5xx
	OutcomeDenied  = "denied" // refused for want of a valid token or scope
)

// anonymous names a caller without a valid token.
const anonymous = "anonymous"

// AuditLog appends entries to a file, one JSON object per line, each
// synced to disk before Append returns. The file is opened on the first
// Append (mode 0600, O_APPEND) and reopened after a failed write.
type AuditLog struct {
	path string

	mu sync.Mutex // serialises appends and guards the fields below
	f  *os.File   // nil until the first Append, after a failure, and after Close
	// torn is set after a failed write, which may have left part of a
	// line: the next entry starts on a new line, so that only the torn
	// one is lost to readers.
	torn bool
}

// NewAuditLog returns a log kept at path. It touches nothing until used;
// the directory must exist by then.
func NewAuditLog(path string) *AuditLog {
	return &AuditLog{path: path}
}

// Append writes e as one line and syncs it. Errors match
// ErrAuditUnavailable.
func (l *AuditLog) Append(e AuditEntry) error {
	line, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("%w: encode entry: %w", ErrAuditUnavailable, err)
	}
	line = append(line, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrAuditUnavailable, err)
		}
		l.f = f
	}
	if l.torn {
		line = append([]byte{'\n'}, line...)
	}
	_, err = l.f.Write(line)
	if err == nil {
		err = l.f.Sync()
	}
	if err != nil {
		l.f.Close()
		l.f, l.torn = nil, true
		return fmt.Errorf("%w: %w", ErrAuditUnavailable, err)
	}
	l.torn = false
	return nil
}

// Close closes the file; a later Append opens it again.
func (l *AuditLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

// tailChunk is how much of the file Tail reads at a time, from the end.
const tailChunk = 64 << 10

// Tail returns the last n entries, oldest first. Lines that are not
// entries (a line torn by a crash or a full disk) are skipped.
func (l *AuditLog) Tail(n int) ([]AuditEntry, error) {
	f, err := os.Open(l.path)
	if errors.Is(err, fs.ErrNotExist) {
		return []AuditEntry{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read audit log: %w", err)
	}
	// Read whole chunks backwards until n+1 line ends are in hand (the
	// first line may be partial) or the start is reached.
	var buf []byte
	for off := fi.Size(); off > 0 && bytes.Count(buf, []byte{'\n'}) <= n; {
		size := min(off, tailChunk)
		off -= size
		chunk := make([]byte, size)
		if _, err := f.ReadAt(chunk, off); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("read audit log: %w", err)
		}
		buf = append(chunk, buf...)
	}
	lines := bytes.Split(buf, []byte{'\n'})
	out := []AuditEntry{}
	for _, line := range slices.Backward(lines) {
		if len(out) == n {
			break
		}
		var e AuditEntry
		if len(line) == 0 || json.Unmarshal(line, &e) != nil {
			continue
		}
		out = append(out, e)
	}
	slices.Reverse(out)
	return out, nil
}
