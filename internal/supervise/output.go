package supervise

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

const (
	// MaxLineBytes bounds an output line; longer lines are split, so a
	// child printing a huge line costs at most this much memory.
	MaxLineBytes = 16 << 10
	// LogTailLines is how many output lines Status.LogTail keeps.
	LogTailLines = 50
)

// readLines calls emit for every line read from r, without its line ending.
// Lines longer than maxLine (at least 16) bytes are emitted in pieces of
// maxLine bytes. It
// returns r's error, or nil at EOF.
func readLines(r io.Reader, maxLine int, emit func(line string)) error {
	br := bufio.NewReaderSize(r, maxLine)
	split := false // the previous piece was cut at maxLine
	for {
		b, err := br.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			emit(string(b))
			split = true
			continue
		case len(b) > 0:
			b = bytes.TrimSuffix(b, []byte("\n"))
			b = bytes.TrimSuffix(b, []byte("\r"))
			// A line of exactly maxLine bytes leaves only its line ending
			// for the next piece: that is not an empty line of its own.
			if !split || len(b) > 0 {
				emit(string(b))
			}
			split = false
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// logTail keeps the last lines added to it. The zero value is not usable;
// see newLogTail.
type logTail struct {
	lines []string // ring buffer
	next  int      // where the next line goes
	full  bool     // lines has wrapped around
}

func newLogTail(n int) *logTail { return &logTail{lines: make([]string, n)} }

func (t *logTail) add(line string) {
	t.lines[t.next] = line
	t.next++
	if t.next == len(t.lines) {
		t.next, t.full = 0, true
	}
}

// snapshot returns the lines, oldest first, in a new slice.
func (t *logTail) snapshot() []string {
	if !t.full {
		return append([]string(nil), t.lines[:t.next]...)
	}
	out := make([]string, 0, len(t.lines))
	out = append(out, t.lines[t.next:]...)
	return append(out, t.lines[:t.next]...)
}
