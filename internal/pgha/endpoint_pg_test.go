package pgha

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Real PostgreSQL servers for the endpoint's tests. initdb runs once into
// a template kept under the system's temporary directory (keyed by the
// server's version and the initdb options, so every test binary and run
// shares it); each test copies the template and starts its own server on a
// free loopback port. PostgreSQL refuses to run as root, so as root the
// servers run as the postgres user.

// endpointPGPassword is the password of the superuser "postgres" in the
// test servers; TCP connections use SCRAM, so authentication goes through
// the endpoint's relay in several round trips.
const endpointPGPassword = "endpoint-test-secret"

// endpointPGTimeout bounds waiting for a test server to start or stop.
const endpointPGTimeout = 30 * time.Second

// endpointPGEnv is where the binaries are and whom to run them as.
type endpointPGEnv struct {
	bin  string              // directory of initdb and postgres
	cred *syscall.Credential // nil: run as this process's user
	uid  int
	gid  int
}

var (
	endpointPGOnce     sync.Once
	endpointPGTemplate string // data directory to copy
	endpointPGSetup    endpointPGEnv
	endpointPGErr      error
)

// endpointPGBin returns the newest /usr/lib/postgresql/<v>/bin, or "".
func endpointPGBin() string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi < vj
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "postgres")); err == nil {
			return dirs[i]
		}
	}
	return ""
}

// endpointPGPrepare finds the binaries and makes the template once.
func endpointPGPrepare(t testing.TB) (endpointPGEnv, string) {
	t.Helper()
	bin := endpointPGBin()
	if bin == "" {
		t.Skip("PostgreSQL binaries not found under /usr/lib/postgresql/<version>/bin (install postgresql-15; scripts/test does)")
	}
	endpointPGOnce.Do(func() {
		endpointPGSetup, endpointPGTemplate, endpointPGErr = endpointPGMakeTemplate(bin)
	})
	if endpointPGErr != nil {
		t.Fatalf("prepare PostgreSQL: %v", endpointPGErr)
	}
	return endpointPGSetup, endpointPGTemplate
}

func endpointPGMakeTemplate(bin string) (endpointPGEnv, string, error) {
	env := endpointPGEnv{bin: bin, uid: os.Getuid(), gid: os.Getgid()}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return env, "", fmt.Errorf("running as root and there is no postgres user to run PostgreSQL as: %w", err)
		}
		env.uid, _ = strconv.Atoi(u.Uid)
		env.gid, _ = strconv.Atoi(u.Gid)
		env.cred = &syscall.Credential{Uid: uint32(env.uid), Gid: uint32(env.gid)}
	}
	version, err := exec.Command(filepath.Join(bin, "postgres"), "--version").Output()
	if err != nil {
		return env, "", fmt.Errorf("postgres --version: %w", err)
	}
	args := []string{"--no-locale", "--encoding=UTF8", "--username=postgres", "--auth-local=trust",
		"--auth-host=scram-sha-256", "--no-sync"}
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\n%s\n%q\n%s\n%d", bin, version, args, endpointPGPassword, env.uid))
	dir := filepath.Join(os.TempDir(), "tandem-pgtemplate-"+hex.EncodeToString(sum[:6]))
	if _, err := os.Stat(filepath.Join(dir, "data", "PG_VERSION")); err == nil {
		return env, filepath.Join(dir, "data"), nil
	}
	tmp, err := os.MkdirTemp(os.TempDir(), "tandem-pgtemplate-new-")
	if err != nil {
		return env, "", err
	}
	defer os.RemoveAll(tmp) // left behind only when the rename below did not happen
	if err := os.Chmod(tmp, 0o755); err != nil {
		return env, "", err
	}
	pwfile := filepath.Join(tmp, "pw")
	if err := os.WriteFile(pwfile, []byte(endpointPGPassword+"\n"), 0o644); err != nil {
		return env, "", err
	}
	data := filepath.Join(tmp, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		return env, "", err
	}
	if err := os.Chown(data, env.uid, env.gid); err != nil {
		return env, "", err
	}
	cmd := exec.Command(filepath.Join(bin, "initdb"), append(args, "--pwfile="+pwfile, "-D", data)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: env.cred}
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		return env, "", fmt.Errorf("initdb: %w\n%s", err, out)
	}
	os.Remove(pwfile)
	if err := os.Rename(tmp, dir); err != nil {
		// Another test binary made it first: use theirs.
		if _, serr := os.Stat(filepath.Join(dir, "data", "PG_VERSION")); serr != nil {
			return env, "", fmt.Errorf("store template: %w", err)
		}
	}
	return env, filepath.Join(dir, "data"), nil
}

// endpointPG is one running test server.
type endpointPG struct {
	Addr string // 127.0.0.1:port
	Port int
	Dir  string // its data directory

	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited and its log is read
	logMu  sync.Mutex
	log    strings.Builder
}

// endpointPGConfig adjusts a test server.
type endpointPGConfig struct {
	hba    string            // replaces pg_hba.conf when not ""
	files  map[string][]byte // written into the data directory, owned by the server's user, mode 0600
	params []string          // extra -c name=value settings
}

// startEndpointPG starts a PostgreSQL server from the template; it is
// stopped when the test ends.
func startEndpointPG(t testing.TB, cfg endpointPGConfig) *endpointPG {
	t.Helper()
	env, template := endpointPGPrepare(t)
	dir, err := os.MkdirTemp("", "tandem-pg-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	if out, err := exec.Command("cp", "-a", template, data).CombinedOutput(); err != nil {
		t.Fatalf("copy template: %v\n%s", err, out)
	}
	files := maps.Clone(cfg.files)
	if cfg.hba != "" {
		if files == nil {
			files = make(map[string][]byte)
		}
		files["pg_hba.conf"] = []byte(cfg.hba)
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
		pg, err := runEndpointPG(env, data, cfg.params)
		if err == nil {
			t.Cleanup(func() {
				pg.stop()
				if t.Failed() {
					t.Logf("server %s log:\n%s", pg.Addr, pg.logText())
				}
			})
			return pg
		}
		lastErr = err
	}
	t.Fatalf("start PostgreSQL: %v", lastErr)
	return nil
}

func runEndpointPG(env endpointPGEnv, data string, params []string) (*endpointPG, error) {
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
	cmd := exec.Command(filepath.Join(env.bin, "postgres"), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: env.cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	pg := &endpointPG{Addr: fmt.Sprintf("127.0.0.1:%d", port), Port: port, Dir: data, cmd: cmd, exited: make(chan struct{})}
	ready := make(chan struct{})
	go func() {
		defer close(pg.exited)
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			pg.logMu.Lock()
			pg.log.WriteString(sc.Text() + "\n")
			pg.logMu.Unlock()
			if strings.Contains(sc.Text(), "database system is ready to accept connections") {
				once.Do(func() { close(ready) })
			}
		}
		cmd.Wait()
	}()
	t := time.NewTimer(endpointPGTimeout)
	defer t.Stop()
	select {
	case <-ready:
		return pg, nil
	case <-pg.exited:
		return nil, fmt.Errorf("postgres exited:\n%s", pg.logText())
	case <-t.C:
		pg.kill()
		return nil, fmt.Errorf("postgres not ready after %s:\n%s", endpointPGTimeout, pg.logText())
	}
}

func (pg *endpointPG) logText() string {
	pg.logMu.Lock()
	defer pg.logMu.Unlock()
	return pg.log.String()
}

// stop shuts the server down fast (SIGINT), killing it if it takes too
// long, and waits for it.
func (pg *endpointPG) stop() {
	syscall.Kill(-pg.cmd.Process.Pid, syscall.SIGINT)
	t := time.NewTimer(endpointPGTimeout)
	defer t.Stop()
	select {
	case <-pg.exited:
	case <-t.C:
		pg.kill()
	}
}

// kill ends the server's whole process group at once, as a crash would.
func (pg *endpointPG) kill() {
	syscall.Kill(-pg.cmd.Process.Pid, syscall.SIGKILL)
	<-pg.exited
}
