package backup

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// partWriter cuts a stream into objects of partSize bytes under prefix and
// uploads each while the next one fills: the stream never waits on disk,
// and memory stays at a few parts. Each part is written only if absent, so
// a backup cannot overwrite another's.
type partWriter struct {
	ctx      context.Context // the caller's; partWriter lives for one call
	store    Store
	prefix   string
	partSize int

	buf   *bytes.Buffer
	next  int
	queue chan upload
	wg    sync.WaitGroup

	mu    sync.Mutex // guards parts, err
	parts []Part
	err   error
}

type upload struct {
	n   int
	buf *bytes.Buffer
}

const partUploaders = 2

func newPartWriter(ctx context.Context, store Store, prefix string, partSize int) *partWriter {
	w := &partWriter{ctx: ctx, store: store, prefix: prefix, partSize: partSize, queue: make(chan upload)}
	w.buf = w.newBuf()
	for range partUploaders {
		w.wg.Go(w.uploader)
	}
	return w
}

func (w *partWriter) newBuf() *bytes.Buffer { return bytes.NewBuffer(make([]byte, 0, w.partSize)) }

func (w *partWriter) uploader() {
	for u := range w.queue {
		if w.failed() != nil {
			continue // drain: the backup has failed
		}
		key := fmt.Sprintf("%s%06d", w.prefix, u.n)
		info, err := w.store.PutIfAbsent(w.ctx, key, bytes.NewReader(u.buf.Bytes()), int64(u.buf.Len()))
		w.mu.Lock()
		if err != nil && w.err == nil {
			w.err = fmt.Errorf("upload part %s: %w", key, err)
		}
		if err == nil {
			w.parts = append(w.parts, Part{Key: key, Size: info.Size, SHA256: info.SHA256})
		}
		w.mu.Unlock()
	}
}

func (w *partWriter) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *partWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		if err := w.failed(); err != nil {
			return n, err
		}
		k := min(len(p), w.partSize-w.buf.Len())
		w.buf.Write(p[:k])
		p, n = p[k:], n+k
		if w.buf.Len() == w.partSize {
			if err := w.flush(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

func (w *partWriter) flush() error {
	select {
	case w.queue <- upload{n: w.next, buf: w.buf}:
	case <-w.ctx.Done():
		return w.ctx.Err()
	}
	w.next++
	w.buf = w.newBuf()
	return nil
}

// Close uploads the last part and waits for every upload; it returns the
// parts in order.
func (w *partWriter) Close() ([]Part, error) {
	var err error
	if w.buf.Len() > 0 || w.next == 0 {
		err = w.flush()
	}
	close(w.queue)
	w.wg.Wait()
	if ferr := w.failed(); ferr != nil {
		return nil, ferr
	}
	if err != nil {
		return nil, err
	}
	slices.SortFunc(w.parts, func(a, b Part) int { return strings.Compare(a.Key, b.Key) })
	return w.parts, nil
}
