package backuprun

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/tandem-run/tandem/internal/atomicfile"
	"github.com/tandem-run/tandem/internal/pgha"
)

// source is the member a base backup is taken from: a streaming standby
// when there is one (sparing the primary), else the primary; as the
// replication role, over TLS verified against the cluster's CA.
func (r *Runtime) source(ctx context.Context) (name, conn string, err error) {
	db := r.o.Database()
	if db == nil {
		return "", "", errors.New("the database is not open yet")
	}
	m, ok := db.Status().BackupSource()
	if !ok {
		return "", "", errors.New("no running primary or streaming standby")
	}
	creds, err := db.Credentials(ctx)
	if err != nil {
		return "", "", fmt.Errorf("the replication role's credentials: %w", err)
	}
	connDir := filepath.Join(r.dir, "conn")
	var ca []byte
	if r.o.CA != nil {
		ca = r.o.CA()
	}
	if err := r.writeConnFiles(connDir, ca, creds.Replication); err != nil {
		return "", "", err
	}
	host, port, _ := strings.Cut(m.Addr, ":")
	return m.Name, fmt.Sprintf("host=%s port=%s user=%s passfile=%s sslmode=verify-ca sslrootcert=%s application_name=tandem-backup connect_timeout=10",
		host, port, creds.Replication.User, filepath.Join(connDir, "pgpass"), filepath.Join(connDir, "ca.crt")), nil
}

// writeConnFiles writes what pg_basebackup, run as the postgres user,
// needs to reach a member: the cluster's CA and a passfile.
func (r *Runtime) writeConnFiles(dir string, ca []byte, role pgha.Role) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.Chown(dir, r.pg.UID, r.pg.GID); err != nil {
		return err
	}
	esc := strings.NewReplacer(`\`, `\\`, ":", `\:`)
	files := map[string][]byte{
		"ca.crt": ca,
		"pgpass": []byte(fmt.Sprintf("*:*:*:%s:%s\n", esc.Replace(role.User), esc.Replace(role.Password))),
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := atomicfile.Write(p, data, 0o600); err != nil {
			return err
		}
		if err := os.Chown(p, r.pg.UID, r.pg.GID); err != nil {
			return err
		}
	}
	return nil
}
