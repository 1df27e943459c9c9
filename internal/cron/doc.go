// Package cron runs a stack's scheduled jobs: it parses their schedules
// (five cron fields, the @daily-style descriptors and @every), fires each
// job at its times in its time zone, applies its overlap policy (skip or
// queue a run while the previous one still runs) and timeout, and keeps a
// history of runs (start, end, exit code, output tail) and counts of
// failed, skipped and missed runs, persisted across restarts.
//
// Exactly one runner runs each scheduled time: a Runner claims every
// firing through a [Locker] before it runs it. [LocalLocker] serves a
// single node; the cluster's Locker (on etcd) lets several nodes run the
// same jobs with each firing run once.
//
// The Runner does not start processes itself: its Exec function (in
// tandem, the node's supervisor) does.
package cron

import _ "time/tzdata" // time zones work on hosts without a zoneinfo database
