package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// pgBackRest is pgBackRest with one stanza in a repository of its own:
// a posix directory or a prefix of the gateway's bucket. Every command
// runs as the postgres user with a configuration file of the run's; it
// never reads /etc/pgbackrest.conf nor writes outside the run's directory.
type pgBackRest struct {
	env     env
	setup   setup
	dir     string
	conf    string
	srv     *server
	created bool // stanza-create ran
}

const stanza = "bench"

func newPgBackRest(e env, s setup, dir string) (*pgBackRest, error) {
	p := &pgBackRest{env: e, setup: s, dir: dir, conf: filepath.Join(dir, "pgbackrest.conf")}
	for _, d := range []string{"log", "lock", "spool", "repo"} {
		if err := e.pg.mkdir(filepath.Join(dir, d)); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// config is the configuration file for the server on data.
func (p *pgBackRest) config(srv *server) string {
	lines := []string{"[global]",
		"log-path=" + filepath.Join(p.dir, "log"),
		"lock-path=" + filepath.Join(p.dir, "lock"),
		"spool-path=" + filepath.Join(p.dir, "spool"),
		"log-level-console=warn",
		"log-level-file=info",
		"repo1-retention-full=9999",
		"process-max=" + strconv.Itoa(p.env.processMax),
		"start-fast=y",
		"archive-timeout=120",
		"archive-async=" + map[bool]string{true: "y", false: "n"}[p.setup.Async],
	}
	if p.setup.Compress != "" {
		lines = append(lines, "compress-type="+p.setup.Compress, "compress-level=3")
	}
	if p.setup.Store == storeS3 {
		gw := p.env.gw
		host, port, _ := strings.Cut(gw.addr, ":")
		lines = append(lines, "repo1-type=s3", "repo1-path=/"+p.setup.Name, "repo1-s3-bucket="+gw.bucket,
			"repo1-s3-endpoint="+host, "repo1-storage-port="+port, "repo1-s3-region=us-east-1", "repo1-s3-uri-style=path",
			"repo1-s3-key="+gwAccessKey, "repo1-s3-key-secret="+gwSecretKey, "repo1-storage-ca-file="+gw.caFile)
	} else {
		lines = append(lines, "repo1-path="+filepath.Join(p.dir, "repo"))
	}
	lines = append(lines, "", "["+stanza+"]", "pg1-path="+srv.data, "pg1-socket-path="+srv.sock, "pg1-port=5432", "pg1-user=postgres")
	return strings.Join(lines, "\n") + "\n"
}

// boot writes the configuration; nothing runs beside PostgreSQL until it
// archives (archive-push starts its daemon itself in asynchronous mode).
func (p *pgBackRest) boot(_ context.Context, srv *server) ([]string, error) {
	if p.srv != nil && p.srv != srv {
		return nil, errors.New("pgBackRest engine: booted for another server")
	}
	p.srv = srv
	if err := os.WriteFile(p.conf, []byte(p.config(srv)), 0o600); err != nil {
		return nil, err
	}
	if err := os.Chown(p.conf, int(p.env.pg.cred.Uid), int(p.env.pg.cred.Gid)); err != nil {
		return nil, err
	}
	cmd := fmt.Sprintf("%s --config=%s --stanza=%s archive-push %%p", p.env.pgbackrest, p.conf, stanza)
	return []string{"archive_command = " + pgQuote(cmd)}, nil
}

// run runs a pgBackRest command as the postgres user.
func (p *pgBackRest) run(ctx context.Context, timeout time.Duration, command string, opts ...string) ([]byte, error) {
	argv := append([]string{p.env.pgbackrest, "--config=" + p.conf, "--stanza=" + stanza}, opts...)
	out, err := runCmd(ctx, timeout, p.env.pg.cred, nil, append(argv, command)...)
	if err != nil {
		return out, fmt.Errorf("pgbackrest %s: %w", command, err)
	}
	return out, nil
}

// attach creates the stanza once and runs pgBackRest's check, which
// switches WAL and waits until the archive holds the segment.
func (p *pgBackRest) attach(ctx context.Context, _ *server) error {
	if !p.created {
		if _, err := p.run(ctx, 2*time.Minute, "stanza-create"); err != nil {
			return err
		}
		p.created = true
	}
	_, err := p.run(ctx, 3*time.Minute, "check")
	return err
}

func (p *pgBackRest) backup(ctx context.Context) (backupInfo, error) {
	if _, err := p.run(ctx, time.Hour, "backup", "--type=full"); err != nil {
		return backupInfo{}, err
	}
	out, err := p.run(ctx, time.Minute, "info", "--output=json")
	if err != nil {
		return backupInfo{}, err
	}
	return newestBackup(out)
}

// pgbrInfo is the part of `pgbackrest info --output=json` the benchmark
// reads.
type pgbrInfo []struct {
	Name   string `json:"name"`
	Backup []struct {
		Label string `json:"label"`
		Type  string `json:"type"`
		Info  struct {
			Size       int64 `json:"size"`
			Repository struct {
				Size int64 `json:"size"`
			} `json:"repository"`
		} `json:"info"`
	} `json:"backup"`
}

// newestBackup reads the newest backup of the stanza from info's JSON.
func newestBackup(raw []byte) (backupInfo, error) {
	var info pgbrInfo
	if err := json.Unmarshal(raw, &info); err != nil {
		return backupInfo{}, fmt.Errorf("pgbackrest info: %w", err)
	}
	for _, st := range info {
		if st.Name == stanza && len(st.Backup) > 0 {
			b := st.Backup[len(st.Backup)-1]
			return backupInfo{ID: b.Label, ToolBytes: b.Info.Size, StoredBytes: b.Info.Repository.Size}, nil
		}
	}
	return backupInfo{}, fmt.Errorf("pgbackrest info: no backup of stanza %s", stanza)
}

// restore restores backup id into dir. --archive-mode=off keeps the
// restored copy from archiving into the repository (tandem's restore of
// a copy does the same); --type=default recovers to the end of the
// archive.
func (p *pgBackRest) restore(ctx context.Context, id, dir string) error {
	if err := p.env.pg.mkdir(dir); err != nil {
		return err
	}
	_, err := p.run(ctx, time.Hour, "restore", "--pg1-path="+dir, "--set="+id, "--type=default", "--archive-mode=off")
	return err
}

func (p *pgBackRest) close() error { return nil }
