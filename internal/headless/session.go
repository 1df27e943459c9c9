package headless

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Session is a browser left running on a page in real time (no virtual
// time), for tests that change the world while the page runs — a server
// going away — and watch what the page does through the servers it talks
// to. Close ends it.
type Session struct {
	cmd     *exec.Cmd
	profile string
	done    chan struct{} // closed when the browser has exited
	err     error         // how it exited; read after done

	mu     sync.Mutex // guards stderr
	stderr bytes.Buffer
}

// Open starts the browser on url with a fresh profile (service workers,
// caches and cookies start empty and live as long as the session).
func (b *Browser) Open(ctx context.Context, url string) (*Session, error) {
	profile, err := os.MkdirTemp("", "tandem-chromium-")
	if err != nil {
		return nil, fmt.Errorf("chromium %s: %w", url, err)
	}
	s := &Session{profile: profile, done: make(chan struct{})}
	cmd := exec.CommandContext(ctx, b.path,
		"--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000",
		"--enable-logging=stderr", "--v=0",
		"--user-data-dir="+profile, "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic",
		url)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	cmd.Stderr = lockedWriter{s}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(profile)
		return nil, fmt.Errorf("chromium %s: %w", url, err)
	}
	s.cmd = cmd
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	return s, nil
}

type lockedWriter struct{ s *Session }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return w.s.stderr.Write(p)
}

// Close ends the browser and its helper processes, removes its profile
// and returns what it logged. It may be called more than once.
func (s *Session) Close() Page {
	select {
	case <-s.done:
	default:
		// The whole process group: the browser's helpers too.
		if err := syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			s.cmd.Process.Kill()
		}
		<-s.done
	}
	os.RemoveAll(s.profile)
	s.mu.Lock()
	defer s.mu.Unlock()
	log := s.stderr.String()
	return Page{Log: log, Console: consoleLines(log)}
}
