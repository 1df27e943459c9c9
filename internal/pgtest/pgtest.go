// Package pgtest runs real PostgreSQL servers for tests. initdb runs once
// into a template kept under the system's temporary directory, keyed by
// the server's version and the initdb options, so that every test binary
// and every run shares it; each Start copies the template and starts its
// own server on a free loopback port, stopped when the test ends.
// PostgreSQL refuses to run as root, so as root the servers run as the
// postgres user.
//
// Start skips the test, saying why, when no PostgreSQL is installed under
// /usr/lib/postgresql/<version>/bin — or fails it when
// $TANDEM_REQUIRE_POSTGRES is set, as a test script that installed
// PostgreSQL sets it, so that a broken install is not a silent skip.
package pgtest

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Password is the password of the superuser "postgres" in the test
// servers. Connections over TCP authenticate with SCRAM.
const Password = "pgtest-secret"

// timeout bounds waiting for a server to start or stop.
const timeout = 30 * time.Second

// Config adjusts a test server; the zero value is a plain server.
type Config struct {
	// HBA replaces pg_hba.conf when not "".
	HBA string
	// Files are written into the data directory, owned by the server's
	// user, mode 0600 (certificates and keys).
	Files map[string][]byte
	// Params are extra name=value settings.
	Params []string
}

// Server is one running test server.
type Server struct {
	Addr    string // 127.0.0.1:port
	Port    int
	DataDir string

	cmd    *exec.Cmd
	exited chan struct{} // closed once the process has exited and its log is read
	logMu  sync.Mutex    // guards log
	log    strings.Builder
}

// URL is the superuser's connection URL for database on s, without TLS.
func (s *Server) URL(database string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword("postgres", Password), Host: s.Addr,
		Path: "/" + database, RawQuery: "sslmode=disable"}
	return u.String()
}

// Start starts a server from the template; it is stopped when the test
// ends, and its log shown if the test failed.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	env, template := prepare(t)
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil { // the server's user must get through
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	if out, err := exec.Command("cp", "-a", template, data).CombinedOutput(); err != nil {
		t.Fatalf("copy the template: %v\n%s", err, out)
	}
	files := maps.Clone(cfg.Files)
	if cfg.HBA != "" {
		if files == nil {
			files = make(map[string][]byte)
		}
		files["pg_hba.conf"] = []byte(cfg.HBA)
	}
	for name, content := range files {
		p := filepath.Join(data, name)
		if err := os.WriteFile(p, content, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, env.uid, env.gid); err != nil {
			t.Fatal(err)
		}
	}
	var lastErr error
	for range 3 { // a free port may be taken between finding and binding it
		s, err := run(env, data, cfg.Params)
		if err == nil {
			t.Cleanup(func() {
				s.Stop()
				if t.Failed() {
					t.Logf("PostgreSQL %s log:\n%s", s.Addr, s.Log())
				}
			})
			return s
		}
		lastErr = err
	}
	t.Fatalf("start PostgreSQL: %v", lastErr)
	return nil
}

// Log returns what the server wrote to its standard error so far.
func (s *Server) Log() string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.log.String()
}

// Stop shuts the server down at once (SIGQUIT, PostgreSQL's immediate
// shutdown: no checkpoint, as the data is thrown away with the test) and
// waits for it, killing it if it takes longer than 30s. Stopping a stopped
// server does nothing.
func (s *Server) Stop() {
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGQUIT)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-s.exited:
	case <-t.C:
		s.Kill()
	}
}

// Kill ends the server's whole process group at once, as a crash of its
// machine would, and waits for it.
func (s *Server) Kill() {
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited
}

// env is where the binaries are and whom to run them as.
type env struct {
	bin      string              // directory of initdb and postgres
	cred     *syscall.Credential // nil: run as this process's user
	uid, gid int
}

var (
	once     sync.Once
	setup    env
	template string // data directory to copy
	setupErr error
)

// BinDir returns the newest /usr/lib/postgresql/<version>/bin holding a
// postgres binary, or "".
func BinDir() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(d string) int {
		v, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		return v
	}
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			return d
		}
	}
	return ""
}

// prepare finds the binaries and the template, making it once.
func prepare(t testing.TB) (env, string) {
	t.Helper()
	bin := BinDir()
	if bin == "" {
		const missing = "PostgreSQL not installed: no /usr/lib/postgresql/<version>/bin/postgres (apt-get install postgresql-15)"
		if os.Getenv("TANDEM_REQUIRE_POSTGRES") != "" {
			t.Fatalf("TANDEM_REQUIRE_POSTGRES is set but %s", missing)
		}
		t.Skip(missing)
	}
	once.Do(func() { setup, template, setupErr = makeTemplate(bin) })
	if setupErr != nil {
		t.Fatalf("prepare PostgreSQL: %v", setupErr)
	}
	return setup, template
}

// initdbArgs are the template's initdb options.
var initdbArgs = []string{"--no-locale", "--encoding=UTF8", "--username=postgres",
	"--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync",
	"--wal-segsize=1"} // 1MB WAL segments: less to copy per server than 16MB

func makeTemplate(bin string) (env, string, error) {
	e := env{bin: bin, uid: os.Getuid(), gid: os.Getgid()}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return e, "", fmt.Errorf("running as root and there is no postgres user to run PostgreSQL as: %w", err)
		}
		e.uid, _ = strconv.Atoi(u.Uid)
		e.gid, _ = strconv.Atoi(u.Gid)
		e.cred = &syscall.Credential{Uid: uint32(e.uid), Gid: uint32(e.gid)}
	}
	version, err := exec.Command(filepath.Join(bin, "postgres"), "--version").Output()
	if err != nil {
		return e, "", fmt.Errorf("postgres --version: %w", err)
	}
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\n%s\n%q\n%s\n%d", bin, version, initdbArgs, Password, e.uid))
	dir := filepath.Join(os.TempDir(), "pgtest-template-"+hex.EncodeToString(sum[:6]))
	if _, err := os.Stat(filepath.Join(dir, "data", "PG_VERSION")); err == nil {
		return e, filepath.Join(dir, "data"), nil
	}
	tmp, err := os.MkdirTemp("", "pgtest-template-new-")
	if err != nil {
		return e, "", err
	}
	defer os.RemoveAll(tmp) // still there only when the rename below failed
	if err := initdb(e, tmp); err != nil {
		return e, "", err
	}
	if err := os.Rename(tmp, dir); err != nil {
		// Another test binary made it first: use theirs.
		if _, serr := os.Stat(filepath.Join(dir, "data", "PG_VERSION")); serr != nil {
			return e, "", fmt.Errorf("store the template: %w", err)
		}
	}
	return e, filepath.Join(dir, "data"), nil
}

// initdb makes a data directory in dir/data.
func initdb(e env, dir string) error {
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	pwfile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwfile, []byte(Password+"\n"), 0o644); err != nil {
		return err
	}
	defer os.Remove(pwfile)
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		return err
	}
	if err := os.Chown(data, e.uid, e.gid); err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(e.bin, "initdb"), append(slices.Clone(initdbArgs), "--pwfile="+pwfile, "-D", data)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: e.cred}
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out)
	}
	return nil
}

// run starts postgres on data and a free port and waits until it accepts
// connections.
func run(e env, data string, params []string) (*Server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	args := []string{"-D", data, "-c", "listen_addresses=127.0.0.1", "-c", "port=" + strconv.Itoa(port),
		"-c", "unix_socket_directories=", "-c", "fsync=off", "-c", "logging_collector=off",
		"-c", "max_connections=60", "-c", "shared_buffers=16MB"}
	for _, p := range params {
		args = append(args, "-c", p)
	}
	cmd := exec.Command(filepath.Join(e.bin, "postgres"), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: e.cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Port: port, DataDir: data,
		cmd: cmd, exited: make(chan struct{})}
	ready := make(chan struct{})
	go s.readLog(stderr, ready)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-ready:
		return s, nil
	case <-s.exited:
		return nil, fmt.Errorf("postgres exited:\n%s", s.Log())
	case <-t.C:
		s.Kill()
		return nil, fmt.Errorf("postgres not ready after %s:\n%s", timeout, s.Log())
	}
}

// readLog keeps the server's log and closes ready when the server says it
// accepts connections. It returns once the server has exited.
func (s *Server) readLog(stderr io.Reader, ready chan struct{}) {
	defer close(s.exited)
	sc := bufio.NewScanner(stderr)
	said := false
	for sc.Scan() {
		line := sc.Text()
		s.logMu.Lock()
		s.log.WriteString(line + "\n")
		s.logMu.Unlock()
		if !said && strings.Contains(line, "database system is ready to accept connections") {
			said = true
			close(ready)
		}
	}
	s.cmd.Wait()
}
