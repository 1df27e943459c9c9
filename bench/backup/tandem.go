package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/tandem-run/tandem/internal/backup"
)

// tandemEngine is tandem's backup package with one repository, used the
// way a node uses it: PostgreSQL archives through the archiver's socket
// (the archiver runs as a process of its own in the server's box, as the
// node does on its machine), and the Manager takes base backups and
// restores in this process.
type tandemEngine struct {
	env   env
	setup setup
	dir   string
	store storeSpec
	repo  *backup.Repository
	mgr   *backup.Manager

	srv      *server
	archiver *proc  // in the server's box
	socket   string // the archiver's socket

	fetchSock   string // restores' WAL, served by an archiver in this process
	fetchCancel context.CancelFunc
	fetchWG     sync.WaitGroup
	fetchErr    error
}

func newTandemEngine(e env, s setup, dir string) (*tandemEngine, error) {
	t := &tandemEngine{env: e, setup: s, dir: dir, socket: filepath.Join(dir, "wal.sock"), fetchSock: filepath.Join(dir, "fetch.sock")}
	if s.Store == storeS3 {
		t.store.S3 = &backup.S3Options{Endpoint: "https://" + e.gw.addr, Bucket: e.gw.bucket, Prefix: s.Name + "/",
			PathStyle: true, CAFile: e.gw.caFile, AccessKey: gwAccessKey, SecretKey: gwSecretKey}
	} else {
		t.store.Local = filepath.Join(dir, "repo")
		if err := os.Mkdir(t.store.Local, 0o700); err != nil {
			return nil, err
		}
	}
	store, err := t.store.open()
	if err != nil {
		return nil, err
	}
	if t.repo, err = backup.NewRepository(store, nil); err != nil {
		return nil, err
	}
	pg := backup.Postgres{BinDir: e.pg.bin, UID: int(e.pg.cred.Uid), GID: int(e.pg.cred.Gid)}
	t.mgr, err = backup.New(backup.Options{Repository: t.repo, Postgres: pg, FastCheckpoint: true,
		ArchiveWait: 5 * time.Minute, Command: []string{e.exe},
		Source: func(context.Context) (string, string, error) {
			if t.srv == nil {
				return "", "", errors.New("no server")
			}
			return "bench", t.srv.connString(), nil
		}})
	return t, err
}

// boot starts the archiver in the server's box.
func (t *tandemEngine) boot(ctx context.Context, srv *server) ([]string, error) {
	settings := []string{"archive_command = " + pgQuote(backup.ArchiveCommand([]string{t.env.exe}, t.socket))}
	if t.archiver != nil && t.srv == srv {
		return settings, nil
	}
	if t.archiver != nil {
		return nil, errors.New("tandem engine: booted for another server")
	}
	spec, err := json.Marshal(archiverSpec{Socket: t.socket, Store: t.store, AllowUID: int(t.env.pg.cred.Uid), DataDir: srv.data})
	if err != nil {
		return nil, err
	}
	p, err := startProc(procSpec{name: "tandem archiver " + t.setup.Name, log: filepath.Join(t.dir, "archiver.log"), box: srv.box,
		env: []string{archiverEnv + "=" + string(spec)}, argv: []string{t.env.exe, archiverMode}})
	if err != nil {
		return nil, err
	}
	t.srv, t.archiver = srv, p
	if err := waitSocket(ctx, t.socket, p); err != nil {
		return nil, err
	}
	return settings, nil
}

// waitSocket waits, at most 30 s, until the socket exists while p runs.
func waitSocket(ctx context.Context, path string, p *proc) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		if p != nil && p.Exited() {
			return fmt.Errorf("%s exited (%v): %s", p.Name, p.Err(), p.logTail())
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil {
			return fmt.Errorf("socket %s not there within 30s: %w", path, err)
		}
	}
}

// attach checks that a WAL switch reaches the repository.
func (t *tandemEngine) attach(ctx context.Context, srv *server) error {
	seg, err := emitAndSwitch(ctx, srv)
	if err != nil {
		return err
	}
	name, err := backup.ParseWALName(seg)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		_, err := t.repo.GetWAL(wctx, name)
		if err == nil {
			return nil
		}
		if !errors.Is(err, backup.ErrNotFound) {
			return fmt.Errorf("check archiving: %w", err)
		}
		if t.archiver.Exited() {
			return fmt.Errorf("check archiving: the archiver exited: %s", t.archiver.logTail())
		}
		if err := sleep(wctx, 50*time.Millisecond); err != nil {
			return fmt.Errorf("check archiving: %s not archived within 2m", seg)
		}
	}
}

func (t *tandemEngine) backup(ctx context.Context) (backupInfo, error) {
	b, err := t.mgr.RunBaseBackup(ctx)
	if err != nil {
		return backupInfo{}, err
	}
	return backupInfo{ID: b.ID, ToolBytes: b.DataBytes, StoredBytes: b.StoredBytes}, nil
}

// restore restores with the Manager; restore_command reaches an archiver
// this process serves on the repository (a restore on another machine
// reaches its own node's).
func (t *tandemEngine) restore(ctx context.Context, id, dir string) error {
	if err := t.serveFetch(ctx); err != nil {
		return err
	}
	_, err := t.mgr.Restore(ctx, backup.RestoreOptions{Dir: dir, BackupID: id, Socket: t.fetchSock})
	return err
}

// serveFetch starts, once, the archiver that serves restores' WAL.
func (t *tandemEngine) serveFetch(ctx context.Context) error {
	if t.fetchCancel != nil {
		return nil
	}
	a, err := backup.NewArchiver(backup.ArchiverOptions{Repository: t.repo, Socket: t.fetchSock,
		AllowUIDs: []int{int(t.env.pg.cred.Uid)}, CheckInterval: time.Hour})
	if err != nil {
		return err
	}
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	t.fetchCancel = cancel
	t.fetchWG.Go(func() { t.fetchErr = a.Run(fctx) })
	return waitSocket(ctx, t.fetchSock, nil)
}

func (t *tandemEngine) close() error {
	var errs []error
	if t.archiver != nil {
		errs = append(errs, t.archiver.stop(syscall.SIGTERM, 30*time.Second))
	}
	if t.fetchCancel != nil {
		t.fetchCancel()
		t.fetchWG.Wait()
		errs = append(errs, t.fetchErr)
	}
	return errors.Join(errs...)
}
