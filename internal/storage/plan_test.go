package storage

import (
	"reflect"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/backup"
)

func TestPlan(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	prev := t0.Add(-500 * time.Millisecond)
	primary := []backup.BucketObject{
		{Key: "a", ETag: "e1", Size: 1, Modified: t0.Add(-time.Hour)},   // in sync
		{Key: "b", ETag: "e2", Size: 2, Modified: t0.Add(-time.Second)}, // new: Modified before the last poll
		{Key: "c", ETag: "e3", Size: 3, Modified: t0},                   // changed: Modified after it
	}
	index := map[string]string{"a": "e1", "c": "old", "z": "e9", "y": "e8"}
	got := plan(primary, index, prev)
	want := []change{
		{key: "b", etag: "e2", size: 2, since: prev},
		{key: "c", etag: "e3", size: 3, since: t0},
		{key: "y", delete: true, since: prev},
		{key: "z", delete: true, since: prev},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("plan = %+v\nwant %+v", got, want)
	}
	if got := plan(primary, map[string]string{"a": "e1", "b": "e2", "c": "e3"}, prev); len(got) != 0 {
		t.Errorf("plan of a replica in sync = %+v; want nothing", got)
	}
}

func TestJudge(t *testing.T) {
	t.Parallel()
	const (
		good  = "0123456789abcdef0123456789abcdef" // a single PUT's ETag: the bytes' MD5
		bad   = "ffffffffffffffffffffffffffffffff"
		other = "00000000000000000000000000000000"
		parts = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-3" // written in parts: not an MD5
	)
	tests := []struct {
		name string
		p, r side
		want verdict
	}{
		{"both absent", side{}, side{}, inSync},
		{"replica missing", side{present: true, etag: good, md5: good}, side{}, copyToReplica},
		{"primary deleted", side{}, side{present: true, etag: good, md5: good}, deleteReplica},
		{"same", side{present: true, etag: good, md5: good}, side{present: true, etag: good, md5: good}, inSync},
		{"replica has another version", side{present: true, etag: good, md5: good}, side{present: true, etag: other, md5: other}, copyToReplica},
		{"replica damaged", side{present: true, etag: good, md5: good}, side{present: true, etag: good, md5: bad}, copyToReplica},
		{"primary damaged", side{present: true, etag: good, md5: bad}, side{present: true, etag: good, md5: good}, restorePrimary},
		{"primary damaged, replica's recorded MD5 agrees",
			side{present: true, etag: good, md5: bad}, side{present: true, etag: good, md5: good, source: good, recorded: good}, restorePrimary},
		{"both damaged", side{present: true, etag: good, md5: bad}, side{present: true, etag: good, md5: other}, unresolved},
		{"damaged primary not spread to a missing replica", side{present: true, etag: good, md5: bad}, side{}, unresolved},
		{"multipart, replica copy recorded: primary damaged",
			side{present: true, etag: parts, md5: bad}, side{present: true, etag: good, md5: good, source: parts, recorded: good}, restorePrimary},
		{"multipart, replica copy recorded: replica damaged",
			side{present: true, etag: parts, md5: good}, side{present: true, etag: good, md5: bad, source: parts, recorded: good}, copyToReplica},
		{"multipart, in sync", side{present: true, etag: parts, md5: good}, side{present: true, etag: good, md5: good, source: parts, recorded: good}, inSync},
		{"multipart, newer version", side{present: true, etag: parts, md5: good}, side{present: true, etag: good, md5: good, source: "older-1", recorded: good}, copyToReplica},
		{"nothing vouches for either", side{present: true, etag: parts, md5: good}, side{present: true, etag: parts, md5: bad}, copyToReplica},
	}
	for _, tc := range tests {
		if got := judge(tc.p, tc.r); got != tc.want {
			t.Errorf("%s: judge(%+v, %+v) = %v; want %v", tc.name, tc.p, tc.r, got, tc.want)
		}
	}
}
