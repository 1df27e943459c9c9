package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The WAL socket: how archive_command and restore_command, running as the
// postgres user, hand files to the node and get them back. The protocol is
// HTTP over a Unix socket:
//
//	PUT /wal/<file>   body: the file     204 archived; 409 conflict; 400 bad name; 503 store error
//	GET /wal/<file>                      200 the file; 404 not archived; 500 corrupt; 503 store error
//
// The client passes the file's bytes, not its path, so the node reads
// nothing with its own rights on a client's say-so; and the socket accepts
// only root and the users it is told to (the postgres user), checked with
// SO_PEERCRED on every connection.

// walService is what the socket serves.
type walService interface {
	Push(ctx context.Context, name string, content []byte) error
	Fetch(ctx context.Context, name string) ([]byte, error)
}

// maxWALFile bounds a request body: the largest WAL segment PostgreSQL
// allows is 1 GiB.
const maxWALFile = 1 << 30

func walHandler(svc walService) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("PUT /wal/{name}", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxWALFile+1))
		if err != nil {
			http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
			return
		}
		if len(body) > maxWALFile {
			http.Error(w, "file larger than 1 GiB", http.StatusRequestEntityTooLarge)
			return
		}
		if err := svc.Push(r.Context(), r.PathValue("name"), body); err != nil {
			http.Error(w, err.Error(), walStatus(err))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /wal/{name}", func(w http.ResponseWriter, r *http.Request) {
		b, err := svc.Fetch(r.Context(), r.PathValue("name"))
		if err != nil {
			http.Error(w, err.Error(), walStatus(err))
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(b)
	})
	return mux
}

// walStatus maps an archive error to its status, in one place.
func walStatus(err error) int {
	var ce *CorruptError
	switch {
	case errors.Is(err, ErrBadWALName):
		return http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrWALConflict):
		return http.StatusConflict
	case errors.As(err, &ce), errors.Is(err, ErrDecrypt):
		return http.StatusInternalServerError
	case errors.Is(err, errPushRefused):
		return http.StatusForbidden
	}
	return http.StatusServiceUnavailable
}

var errPushRefused = errors.New("this socket does not archive")

// serveWALSocket serves svc on a Unix socket at path until ctx ends, then
// shuts the server down (in-flight requests get drainTimeout) and removes
// the socket. allowUIDs may connect besides root; the socket is made
// theirs (the first one's) so that they can.
func serveWALSocket(ctx context.Context, path string, allowUIDs []int, svc walService) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("wal socket %s: %w", path, err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("wal socket: %w", err)
	}
	defer os.Remove(path)
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return fmt.Errorf("wal socket %s: %w", path, err)
	}
	if len(allowUIDs) > 0 {
		if err := os.Chown(path, allowUIDs[0], -1); err != nil {
			l.Close()
			return fmt.Errorf("wal socket %s: %w", path, err)
		}
	}
	srv := &http.Server{Handler: walHandler(svc), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(&peerListener{Listener: l, allow: allowUIDs}) }()
	select {
	case err := <-errc:
		return fmt.Errorf("wal socket %s: %w", path, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drainTimeout)
	defer cancel()
	srv.Shutdown(sctx) // on timeout, Close below ends what is left
	srv.Close()
	<-errc
	return nil
}

const drainTimeout = 30 * time.Second

// peerListener accepts connections from root and the allowed users only.
type peerListener struct {
	net.Listener
	allow []int
}

func (l *peerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		uid, err := peerUID(c)
		if err == nil && (uid == 0 || slices.Contains(l.allow, uid)) {
			return c, nil
		}
		c.Close()
	}
}

func peerUID(c net.Conn) (int, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return -1, errors.New("not a unix connection")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return -1, err
	}
	var cred *unix.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) { cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) }); err != nil {
		return -1, err
	}
	if serr != nil {
		return -1, serr
	}
	return int(cred.Uid), nil
}

func socketClient(socket string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}
}

// WALSocketError is an answer of the node other than success.
type WALSocketError struct {
	Status  int
	Message string
}

func (e *WALSocketError) Error() string {
	return fmt.Sprintf("node answered %d: %s", e.Status, e.Message)
}

// Unwrap lets callers branch on the kind of failure.
func (e *WALSocketError) Unwrap() error {
	switch e.Status {
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusConflict:
		return ErrWALConflict
	}
	return nil
}

// PushWAL is archive_command's side: it reads the WAL file at path (%p,
// relative to the data directory, the command's working directory) and
// hands it to the node listening on socket under its name (%f).
func PushWAL(ctx context.Context, socket, path, name string) error {
	if _, err := ParseWALName(name); err != nil {
		return fmt.Errorf("wal-push: %w", err)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("wal-push %s: %w", name, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("wal-push %s: %w", name, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, "http://tandem/wal/"+url.PathEscape(name), f)
	if err != nil {
		return fmt.Errorf("wal-push %s: %w", name, err)
	}
	req.ContentLength = fi.Size()
	if _, err := doSocket(socket, req); err != nil {
		return fmt.Errorf("wal-push %s: %w", name, err)
	}
	return nil
}

// FetchWAL is restore_command's side: it asks the node on socket for the
// archived file name (%f) and writes it to path (%p). It fails with an
// error wrapping ErrNotFound when the archive does not hold the file,
// which PostgreSQL takes as the end of the archive (see FetchExitCode).
func FetchWAL(ctx context.Context, socket, name, path string) error {
	if _, err := ParseWALName(name); err != nil {
		return fmt.Errorf("wal-fetch: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://tandem/wal/"+url.PathEscape(name), nil)
	if err != nil {
		return fmt.Errorf("wal-fetch %s: %w", name, err)
	}
	body, err := doSocket(socket, req)
	if err != nil {
		return fmt.Errorf("wal-fetch %s: %w", name, err)
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tandem-tmp")
	if err := os.WriteFile(tmp, body, 0o600); err != nil {
		return fmt.Errorf("wal-fetch %s: %w", name, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("wal-fetch %s: %w", name, err)
	}
	return nil
}

// FetchExitCode is the exit code restore_command must end with after
// FetchWAL returned err. PostgreSQL reads any code from 1 to 125 as "not
// in the archive" and ends recovery there; a store that is down must not
// look like the end of the archive, or a restore would stop early and
// silently lose what follows. So errors other than ErrNotFound exit with
// 126, which makes PostgreSQL abort recovery instead.
func FetchExitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrNotFound):
		return 1
	}
	return 126
}

func doSocket(socket string, req *http.Request) ([]byte, error) {
	c := socketClient(socket)
	defer c.CloseIdleConnections()
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reach node at %s: %w", socket, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxWALFile+1))
	if err != nil {
		return nil, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, &WALSocketError{Status: resp.StatusCode, Message: strings.TrimSpace(string(body))}
	}
	return body, nil
}
