package pgha

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tandem-run/tandem/internal/cluster"
)

// Store is how members coordinate: a leader lease, the sync key, member
// records, the bootstrap claim and the credentials. In tandem it is
// cluster.DatabaseStore on etcd; the values are this package's JSON.
type Store interface {
	Load(ctx context.Context) (cluster.DatabaseState, error)
	Watch(ctx context.Context, notify func()) error
	Campaign(ctx context.Context, ttl time.Duration, leader []byte, syncRev int64, sync []byte) (lease int64, err error)
	Renew(ctx context.Context, lease int64) error
	Resign(ctx context.Context, lease int64) error
	PutSync(ctx context.Context, lease int64, value []byte, rev int64) error
	ClaimInitialize(ctx context.Context, value []byte, ttl time.Duration) (bool, error)
	FinishInitialize(ctx context.Context, lease int64, value []byte) error
	PutMember(ctx context.Context, member string, value []byte, ttl time.Duration) error
	PutSwitchover(ctx context.Context, value []byte, rev int64) error
	DeleteSwitchover(ctx context.Context, rev int64) error
	Credentials(ctx context.Context, generated []byte) ([]byte, error)
}

var _ Store = (*cluster.DatabaseStore)(nil)

// leaderRecord is the value of the leader key.
type leaderRecord struct {
	Member string    `json:"member"`
	Cause  string    `json:"cause,omitempty"`
	At     time.Time `json:"at"`
}

// syncRecord is the value of the sync key.
type syncRecord struct {
	Leader  string `json:"leader"`
	Standby string `json:"standby,omitempty"`
}

// initRecord is the value of the initialize key.
type initRecord struct {
	Holder string `json:"holder"`
	SysID  uint64 `json:"sysid,omitempty,string"`
}

// Role is a database role and its password.
type Role struct {
	User     string `json:"user"`
	Password string `json:"password"`
}

// Credentials are the roles tandem generates when it bootstraps a
// cluster, kept in the store (never in the stack file).
type Credentials struct {
	Superuser   Role `json:"superuser"`
	Replication Role `json:"replication"`
	App         Role `json:"app"`
}

// Role names tandem creates besides the app's.
const (
	superuser       = "postgres"
	replicationUser = "replicator"
)

// generateCredentials makes fresh random passwords.
func generateCredentials(app string) (Credentials, error) {
	var c Credentials
	for _, r := range []struct {
		role *Role
		user string
	}{{&c.Superuser, superuser}, {&c.Replication, replicationUser}, {&c.App, app}} {
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return c, fmt.Errorf("generate password: %w", err)
		}
		*r.role = Role{User: r.user, Password: base64.RawURLEncoding.EncodeToString(b)}
	}
	return c, nil
}

// loadCredentials returns the cluster's credentials, storing fresh ones if
// there are none yet.
func loadCredentials(ctx context.Context, s Store, app string) (Credentials, error) {
	gen, err := generateCredentials(app)
	if err != nil {
		return Credentials{}, err
	}
	raw, err := json.Marshal(gen)
	if err != nil {
		return Credentials{}, fmt.Errorf("credentials: %w", err)
	}
	stored, err := s.Credentials(ctx, raw)
	if err != nil {
		return Credentials{}, err
	}
	var c Credentials
	if err := json.Unmarshal(stored, &c); err != nil {
		return Credentials{}, fmt.Errorf("credentials in the store: %w", err)
	}
	if c.Superuser.Password == "" || c.Replication.Password == "" || c.App.Password == "" {
		return Credentials{}, fmt.Errorf("credentials in the store: a password is empty")
	}
	return c, nil
}

// decodeView turns the store's keys into a View; a value that does not
// decode is logged by the caller and read as absent.
func decodeView(st cluster.DatabaseState) (View, []error) {
	var v View
	var errs []error
	if st.Initialize.Revision != 0 {
		var r initRecord
		if err := json.Unmarshal(st.Initialize.Value, &r); err != nil {
			errs = append(errs, fmt.Errorf("initialize key: %w", err))
		}
		v.Init = InitKey{Holder: r.Holder, SysID: r.SysID}
	}
	if st.Leader.Revision != 0 {
		var r leaderRecord
		if err := json.Unmarshal(st.Leader.Value, &r); err != nil || r.Member == "" {
			errs = append(errs, fmt.Errorf("leader key %q: %w", st.Leader.Value, err))
			r.Member = "?" // held by something: nobody may take it
		}
		v.Leader, v.LeaderCause = r.Member, r.Cause
	}
	if st.Sync.Revision != 0 {
		var r syncRecord
		if err := json.Unmarshal(st.Sync.Value, &r); err != nil {
			errs = append(errs, fmt.Errorf("sync key: %w", err))
		}
		v.Sync = SyncKey{Leader: r.Leader, Standby: r.Standby, Rev: st.Sync.Revision}
	}
	if st.Switchover.Revision != 0 {
		var r SwitchoverRequest
		if err := json.Unmarshal(st.Switchover.Value, &r); err != nil {
			errs = append(errs, fmt.Errorf("switchover key: %w", err))
		} else {
			v.Switchover = &r
		}
	}
	if st.Emergency.Revision != 0 {
		var e Emergency
		switch err := json.Unmarshal(st.Emergency.Value, &e); {
		case err != nil:
			errs = append(errs, fmt.Errorf("emergency key: %w", err))
		case e.Site == "":
			errs = append(errs, fmt.Errorf("emergency key %q: names no site", st.Emergency.Value))
		default:
			v.Emergency = &e
		}
	}
	v.Members = make(map[string]MemberRecord, len(st.Members))
	for name, raw := range st.Members {
		var r MemberRecord
		if err := json.Unmarshal(raw, &r); err != nil {
			errs = append(errs, fmt.Errorf("member record %s: %w", name, err))
			continue
		}
		v.Members[name] = r
	}
	return v, errs
}
