package config

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/tandem-run/tandem/internal/cron"
)

// Storage is object storage for the apps: a bucket per app in an
// S3-compatible store every instance reaches, optionally replicated to a
// second store. Stack.Storage is nil when the stack file has no storage
// section: then apps get no S3_* environment.
type Storage struct {
	// Store is where the apps' buckets are; default an embedded store on
	// this node.
	Store ObjectStore `yaml:"store"`
	// Replica is the second store the buckets are copied to; nil when
	// there is none.
	Replica *ReplicaStore `yaml:"replica"`
	// Apps gives apps their bucket, by app name; at least one.
	Apps map[string]*AppBucket `yaml:"apps"`
	// Replication is how the buckets are copied to Replica.
	Replication Replication `yaml:"replication"`

	// AppNames lists the keys of Apps in the order of the file.
	AppNames []string `yaml:"-"`
}

// ObjectStore is one S3-compatible store: run by tandem on one node
// (Embedded) or an existing service (S3). Exactly one is set after
// validation.
type ObjectStore struct {
	Embedded *EmbeddedStore `yaml:"embedded"`
	S3       *S3Store       `yaml:"s3"`
	// Site is the site (cluster.site) the store is in: the edge of a node
	// of that site reads public objects from it first. "" for none.
	Site string `yaml:"site"`
}

// ReplicaStore is the store the buckets are copied to: an existing
// S3-compatible service elsewhere (another site, a cloud), never one on
// this node.
type ReplicaStore struct {
	S3 *S3Store `yaml:"s3"` // required
	// Site is as ObjectStore.Site: a node of that site reads public
	// objects from the replica first.
	Site string `yaml:"site"`
}

// EmbeddedStore is an S3-compatible server (versitygw's posix backend)
// that tandem runs over a directory of this node: for one node. Other
// nodes cannot share it; a cluster uses an S3 store.
type EmbeddedStore struct {
	// Listen is the address the store serves S3 on; default
	// "127.0.0.1:7480". The apps and the edge reach it there.
	Listen string `yaml:"listen"`
	// Dir holds the objects (bucket b's object k is Dir/b/k) and their
	// metadata; absolute; default <data_dir>/objects.
	Dir string `yaml:"dir"`
	// AccessKey and SecretKey are the store's credentials; both or
	// neither. Neither: tandem makes them on the first start and keeps
	// them in <data_dir>/storage.
	AccessKey string `yaml:"access_key"`
	SecretKey string `yaml:"secret_key"`
}

// S3Store is an existing S3-compatible service: AWS S3, Garage, Ceph RGW,
// SeaweedFS, versitygw.
type S3Store struct {
	// Endpoint is the service's URL, http(s)://host[:port]; required.
	Endpoint string `yaml:"endpoint"`
	// Region is signed into requests; default "us-east-1".
	Region string `yaml:"region"`
	// PathStyle puts the bucket in the path (most self-hosted stores)
	// rather than the host name; default true.
	PathStyle bool `yaml:"path_style"`
	// CA is a PEM bundle trusted for the endpoint's certificate, in place
	// of the system's roots; absolute; the file exists.
	CA string `yaml:"ca"`
	// AccessKey and SecretKey are the credentials; required. Use ${VAR}.
	AccessKey string `yaml:"access_key"`
	SecretKey string `yaml:"secret_key"`
}

// AppBucket is an app's bucket.
type AppBucket struct {
	// Bucket is its name in the store; default "<cluster.name>-<app>".
	Bucket string `yaml:"bucket"`
	// ReplicaBucket is its name in the replica; default Bucket.
	ReplicaBucket string `yaml:"replica_bucket"`
}

// Replication is how the buckets are copied to the replica.
type Replication struct {
	// Interval is how often the store is listed for changes; a write
	// reaches the replica within about Interval plus its copy. 100ms to
	// 1h; default 1s.
	Interval Duration `yaml:"interval"`
	// Workers copy objects at once, 1 to 64; default 4.
	Workers int `yaml:"workers"`
	// Resync is the schedule (cron, as a job's) of the full re-sync that
	// reads every object on both sides and compares their checksums; it
	// also runs after either store was unreachable. Default "30 3 * * *".
	Resync string `yaml:"resync"`
}

// Defaults of the storage section.
const (
	DefaultEmbeddedListen = "127.0.0.1:7480"
	defaultRegion         = "us-east-1"
	maxReplicationWorkers = 64
	minReplicationPoll    = Duration(100 * time.Millisecond)
	maxReplicationPoll    = Duration(time.Hour)
)

func (s *Storage) setDefaults() {
	s.Replication = Replication{Interval: Duration(time.Second), Workers: 4, Resync: "30 3 * * *"}
}

func (e *EmbeddedStore) setDefaults() { e.Listen = DefaultEmbeddedListen }

func (s *S3Store) setDefaults() {
	s.Region = defaultRegion
	s.PathStyle = true
}

// bucketRE is S3's rule for bucket names (without the rules on dots,
// which tandem's names never need): 3 to 63 lower-case letters, digits,
// '-' and '.', starting and ending with a letter or digit.
var bucketRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

func (k *checker) storage() {
	s := k.st.Storage
	if s == nil {
		return
	}
	k.objectStore("storage.store", &s.Store)
	if r := s.Replica; r != nil {
		if r.Site != "" {
			k.name("storage.replica.site", r.Site)
		}
		switch {
		case r.S3 == nil:
			k.c.addf("storage.replica.s3", "required: the replica is an existing S3-compatible store (endpoint, credentials)")
		case s.Store.S3 != nil && sameEndpoint(s.Store.S3.Endpoint, r.S3.Endpoint):
			k.c.addf("storage.replica.s3.endpoint", "is the endpoint of storage.store: a replica in the same store survives nothing")
		default:
			k.s3Store("storage.replica.s3", r.S3)
		}
	}
	if len(s.Apps) == 0 {
		k.c.addf("storage.apps", "required: the apps that get a bucket, e.g. apps: { %s: {} }", firstOr(k.st.AppNames, "web"))
	}
	for _, name := range s.AppNames {
		k.appBucket("storage.apps."+name, name, s.Apps[name], s.Replica != nil)
	}
	k.replication("storage.replication", &s.Replication)
}

func (k *checker) objectStore(p string, o *ObjectStore) {
	switch {
	case o.Embedded != nil && o.S3 != nil:
		k.c.addf(p, "give embedded or s3, not both")
		return
	case o.Embedded == nil && o.S3 == nil:
		o.Embedded = new(EmbeddedStore)
		o.Embedded.setDefaults()
	}
	if o.Site != "" {
		k.name(p+".site", o.Site)
	}
	if e := o.Embedded; e != nil {
		k.embeddedStore(p+".embedded", e)
	} else {
		k.s3Store(p+".s3", o.S3)
	}
}

func (k *checker) embeddedStore(p string, e *EmbeddedStore) {
	k.listen(p+".listen", e.Listen)
	others := map[string]string{"edge.listen": k.st.Edge.Listen, "admin.listen": k.st.Admin.Listen,
		"cluster.peer_port": fmt.Sprintf(":%d", k.st.Cluster.PeerPort), "cluster.client_port": fmt.Sprintf(":%d", k.st.Cluster.ClientPort),
		"cluster.node_port": fmt.Sprintf(":%d", k.st.Cluster.NodePort)}
	if t := k.st.Edge.TLS; t != nil {
		others["edge.tls.listen"] = t.Listen
	}
	for _, field := range sortedKeys(others) {
		if addrsOverlap(e.Listen, others[field]) {
			k.c.addf(p+".listen", "%q is the same address as %s (%q)", e.Listen, field, others[field])
		}
	}
	if e.Dir == "" {
		e.Dir = filepath.Join(k.st.Cluster.DataDir, "objects")
	} else {
		e.Dir = k.path(p+".dir", e.Dir)
	}
	k.keyPair(p, e.AccessKey, e.SecretKey, false)
}

func (k *checker) s3Store(p string, s *S3Store) {
	switch u, err := ParseUpstreamURL(s.Endpoint); {
	case s.Endpoint == "":
		k.c.addf(p+".endpoint", "required: the store's URL, e.g. https://s3.eu-west-1.amazonaws.com")
	case err != nil:
		k.c.addf(p+".endpoint", "%v", err)
	case strings.TrimSuffix(u.Path, "/") != "":
		k.c.addf(p+".endpoint", "must be the store's root URL, without a path (the bucket goes under storage.apps), got %q", s.Endpoint)
	}
	if s.Region == "" || strings.ContainsAny(s.Region, " /\t") {
		k.c.addf(p+".region", "must be a region name such as us-east-1, got %q", s.Region)
	}
	s.CA = k.file(p+".ca", s.CA)
	k.keyPair(p, s.AccessKey, s.SecretKey, true)
}

// keyPair checks an access key and its secret: both or (unless required)
// neither.
func (k *checker) keyPair(p, access, secret string, required bool) {
	switch {
	case access == "" && secret == "" && !required:
	case access == "":
		k.c.addf(p+".access_key", "required (use ${VAR} to keep it out of the file)")
	case secret == "":
		k.c.addf(p+".secret_key", "required (use ${VAR} to keep it out of the file)")
	case len(secret) < 8:
		k.c.addf(p+".secret_key", "must be at least 8 characters, got %d", len(secret))
	}
}

func (k *checker) appBucket(p, app string, b *AppBucket, replica bool) {
	if _, ok := k.st.Apps[app]; !ok {
		k.known(p, "app", app, k.st.AppNames)
		return
	}
	if b.Bucket == "" {
		b.Bucket = k.st.Cluster.Name + "-" + app
	}
	if !bucketRE.MatchString(b.Bucket) {
		k.c.addf(p+".bucket", "must be 3 to 63 lower-case letters, digits, '-' and '.', starting and ending with a letter or digit (S3's rule), got %q", b.Bucket)
	}
	switch {
	case b.ReplicaBucket == "":
		b.ReplicaBucket = b.Bucket
	case !replica:
		k.c.addf(p+".replica_bucket", "there is no storage.replica")
	case !bucketRE.MatchString(b.ReplicaBucket):
		k.c.addf(p+".replica_bucket", "must be 3 to 63 lower-case letters, digits, '-' and '.', starting and ending with a letter or digit (S3's rule), got %q", b.ReplicaBucket)
	}
	for _, other := range k.st.Storage.AppNames {
		if o := k.st.Storage.Apps[other]; other != app && o != nil && o.Bucket == b.Bucket {
			k.c.addf(p+".bucket", "%q is also the bucket of storage.apps.%s", b.Bucket, other)
			break
		}
	}
}

func (k *checker) replication(p string, r *Replication) {
	if r.Interval < minReplicationPoll || r.Interval > maxReplicationPoll {
		k.c.addf(p+".interval", "must be >= %s and <= %s, got %s", minReplicationPoll, maxReplicationPoll, r.Interval)
	}
	k.between(p+".workers", r.Workers, 1, maxReplicationWorkers)
	if r.Resync == "" {
		k.c.addf(p+".resync", `required: e.g. "30 3 * * *" or "@every 6h"`)
	} else if _, err := cron.Parse(r.Resync); err != nil {
		k.c.addf(p+".resync", "%s", strings.TrimPrefix(err.Error(), cron.ErrBadSchedule.Error()+" "))
	}
}

// sameEndpoint reports whether two endpoint URLs name the same service.
func sameEndpoint(a, b string) bool {
	ua, err1 := ParseUpstreamURL(a)
	ub, err2 := ParseUpstreamURL(b)
	return err1 == nil && err2 == nil && ua.Scheme == ub.Scheme && strings.EqualFold(ua.Host, ub.Host)
}

func firstOr(names []string, def string) string {
	if len(names) > 0 {
		return names[0]
	}
	return def
}

// StoreKind names what an ObjectStore is, for messages and status.
func (o *ObjectStore) String() string {
	if o.Embedded != nil {
		return fmt.Sprintf("embedded store on %s", o.Embedded.Listen)
	}
	if o.S3 != nil {
		return o.S3.Endpoint
	}
	return "no store"
}
