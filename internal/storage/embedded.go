package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tandem-run/tandem/internal/atomicfile"
	"github.com/tandem-run/tandem/internal/supervise"
)

// GatewayInstance names the embedded store's process in the supervisor.
const GatewayInstance = "objectstore"

// Supervisor runs the embedded store's process; *supervise.Supervisor is
// one.
type Supervisor interface {
	Start(ctx context.Context, spec supervise.Spec) (*supervise.Instance, error)
	Instances() []*supervise.Instance
}

// EmbeddedOptions configure the embedded store.
type EmbeddedOptions struct {
	// Binary is the tandem binary, run as `Binary GatewayArg ...`.
	Binary string
	// Gateway is what the store serves; Access and Secret are filled in
	// by StartEmbedded when empty.
	Gateway GatewayOptions
	// StateDir keeps the store's metadata and generated credentials.
	StateDir string
	// Env is the base environment of the process (PATH and the like).
	Env        []string
	Supervisor Supervisor
	// Ready bounds the wait for the store to serve; 0 means 30s.
	Ready  time.Duration
	Logger *slog.Logger
}

// Embedded is the running embedded store: an S3 endpoint on this node.
type Embedded struct {
	inst *supervise.Instance
	opts GatewayOptions
}

// StartEmbedded starts the embedded store as a supervised process, or
// takes over the one a previous binary of this node handed over (an
// upgrade leaves the store running), and waits until it serves. The
// supervisor restarts it if it exits; it stops with the supervisor.
func StartEmbedded(ctx context.Context, o EmbeddedOptions) (*Embedded, error) {
	if o.Ready == 0 {
		o.Ready = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	g := o.Gateway
	g.Meta = filepath.Join(o.StateDir, "meta")
	if g.Access == "" {
		var err error
		if g.Access, g.Secret, err = EmbeddedCredentials(o.StateDir); err != nil {
			return nil, err
		}
	}
	e := &Embedded{opts: g}
	for _, in := range o.Supervisor.Instances() {
		if in.Name() == GatewayInstance {
			e.inst = in // adopted from the binary before an upgrade
		}
	}
	if e.inst == nil {
		spec := supervise.Spec{
			Name:    GatewayInstance,
			Command: append([]string{o.Binary}, GatewayArgs(g)...),
			Env:     append(cleanEnv(o.Env), GatewayEnv(g)...),
			// A store restarting in a loop is a disk or permission
			// problem: retry often enough to come back soon after it is
			// fixed, without spinning.
			MaxBackoff: 5 * time.Second,
		}
		in, err := o.Supervisor.Start(ctx, spec)
		if err != nil {
			return nil, fmt.Errorf("embedded store: %w", err)
		}
		e.inst = in
	}
	if err := e.waitReady(ctx, o.Ready); err != nil {
		return nil, err
	}
	o.Logger.Info("embedded object store serving", "listen", g.Listen, "dir", g.Dir, "pid", e.inst.Status().PID)
	return e, nil
}

// cleanEnv drops the store's credential variables from a base
// environment: the store gets its own.
func cleanEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.HasPrefix(kv, GatewayAccessEnv+"=") && !strings.HasPrefix(kv, GatewaySecretEnv+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// waitReady polls the store's health path until it answers 200, the
// process keeps crashing, or timeout passes.
func (e *Embedded) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.Endpoint()+GatewayHealthPath, nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		st := e.inst.Status()
		if st.CrashLoop || st.State == supervise.StateStopped {
			return fmt.Errorf("embedded store on %s does not start: %s", e.opts.Listen, lastWords(st))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("embedded store on %s not serving after %s: %s", e.opts.Listen, timeout, lastWords(st))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// lastWords says how the store's process last ended and what it last
// wrote.
func lastWords(st supervise.Status) string {
	var b strings.Builder
	b.WriteString(string(st.State))
	if ex := st.LastExit; ex != nil {
		b.WriteString(", last exit: " + ex.Err)
	}
	if n := len(st.LogTail); n > 0 {
		b.WriteString(", output: " + strings.Join(st.LogTail[max(0, n-5):], " | "))
	}
	return b.String()
}

// Endpoint is the store's URL.
func (e *Embedded) Endpoint() string { return "http://" + e.opts.Listen }

// Credentials are the store's access key and secret.
func (e *Embedded) Credentials() (access, secret string) { return e.opts.Access, e.opts.Secret }

// Status is the store's process, for status pages.
func (e *Embedded) Status() supervise.Status { return e.inst.Status() }

// credentialsFile is what <state>/credentials.json holds.
type credentialsFile struct {
	AccessKey string `json:"access_key"`
	SecretKey string `json:"secret_key"`
}

// EmbeddedCredentials are the embedded store's access key and secret
// kept in stateDir, made on the first start: random, kept 0600, written
// atomically.
func EmbeddedCredentials(stateDir string) (access, secret string, err error) {
	access, secret, err = loadOrCreateCredentials(filepath.Join(stateDir, "credentials.json"))
	if err != nil {
		return "", "", fmt.Errorf("embedded store: %w", err)
	}
	return access, secret, nil
}

func loadOrCreateCredentials(path string) (string, string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		var c credentialsFile
		if err := json.Unmarshal(b, &c); err != nil || c.AccessKey == "" || c.SecretKey == "" {
			return "", "", fmt.Errorf("credentials %s: unreadable (%v): remove it to make new ones, and restart the apps", path, err)
		}
		return c.AccessKey, c.SecretKey, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", "", fmt.Errorf("credentials: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", "", fmt.Errorf("credentials: %w", err)
	}
	c := credentialsFile{AccessKey: "tandem" + randomHex(7), SecretKey: randomHex(20)}
	b, _ = json.MarshalIndent(c, "", "  ")
	if err := atomicfile.Write(path, b, 0o600); err != nil {
		return "", "", fmt.Errorf("credentials: %w", err)
	}
	return c.AccessKey, c.SecretKey, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}
