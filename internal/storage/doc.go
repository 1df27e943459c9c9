// Package storage is the apps' object storage: a bucket per app in an
// S3-compatible store every instance reaches, the environment that tells
// the apps' S3 SDKs where it is, the embedded store a single node runs
// (versitygw's posix backend, as a supervised process of the tandem
// binary), replication of the buckets to a second store with its lag and
// a checksum re-sync, and the read-only upstream through which the edge
// serves an app's public objects from the nearest healthy store.
//
// It never stores objects itself: the store is a real S3 service, the
// embedded one over a local directory, or an existing one (AWS S3,
// Garage, Ceph RGW, SeaweedFS). S3 calls go through internal/backup's
// S3Bucket, the one home of the AWS SDK.
package storage
