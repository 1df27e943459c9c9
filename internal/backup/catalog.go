package backup

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Backup describes a base backup in the repository (backups/<id>/backup.json).
type Backup struct {
	ID             string     `json:"id"`
	Label          string     `json:"label"`
	Source         string     `json:"source"` // the server it was taken from, as the caller named it
	Timeline       uint32     `json:"timeline"`
	StartLSN       LSN        `json:"start_lsn"`
	StopLSN        LSN        `json:"stop_lsn"`
	StartWAL       string     `json:"start_wal"` // first WAL segment a restore needs
	StopWAL        string     `json:"stop_wal"`  // the segment it must replay to before it is consistent
	StartTime      time.Time  `json:"start_time"`
	StopTime       time.Time  `json:"stop_time"` // a restore to a time needs a backup that stopped before it
	WALSegmentSize int64      `json:"wal_segment_size"`
	WALRanges      []WALRange `json:"wal_ranges"`
	DataBytes      int64      `json:"data_bytes"`   // the tar stream, uncompressed
	StoredBytes    int64      `json:"stored_bytes"` // parts and manifest, as stored
	Parts          []Part     `json:"parts"`
	Manifest       Part       `json:"manifest"`
	Encrypted      bool       `json:"encrypted"`
	Compression    string     `json:"compression"`
}

// WALRange is a stretch of WAL on one timeline that a backup needs to
// become consistent, from its manifest.
type WALRange struct {
	Timeline uint32 `json:"timeline"`
	Start    LSN    `json:"start"`
	End      LSN    `json:"end"`
}

// Part is one stored object of a backup.
type Part struct {
	Key    string `json:"key"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// MarshalText writes an LSN as PostgreSQL does.
func (l LSN) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText reads the X/Y form.
func (l *LSN) UnmarshalText(b []byte) error {
	v, err := ParseLSN(string(b))
	*l = v
	return err
}

func backupPrefix(id string) string { return "backups/" + id + "/" }

// ErrNoBackup is returned when no backup fits a restore's target.
var ErrNoBackup = errors.New("no backup fits")

// Backups lists the complete backups, oldest first. A backup whose
// description cannot be read is skipped with its error in bad.
func (r *Repository) Backups(ctx context.Context) (list []Backup, bad []error, err error) {
	var ids []string
	err = r.store.List(ctx, "backups/", func(o ObjectInfo) error {
		if id, ok := strings.CutSuffix(strings.TrimPrefix(o.Key, "backups/"), "/backup.json"); ok && !strings.Contains(id, "/") {
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list backups: %w", err)
	}
	for _, id := range ids {
		b, err := r.Backup(ctx, id)
		if err != nil {
			bad = append(bad, err)
			continue
		}
		list = append(list, b)
	}
	slices.SortFunc(list, func(a, b Backup) int { return a.StartTime.Compare(b.StartTime) })
	return list, bad, nil
}

// Backup reads one backup's description.
func (r *Repository) Backup(ctx context.Context, id string) (Backup, error) {
	b, err := r.getStored(ctx, backupPrefix(id)+"backup.json")
	if err != nil {
		return Backup{}, fmt.Errorf("read backup %s: %w", id, err)
	}
	var bk Backup
	if err := json.Unmarshal(b, &bk); err != nil {
		return Backup{}, fmt.Errorf("read backup %s: %w", id, err)
	}
	return bk, nil
}

func (r *Repository) putBackup(ctx context.Context, b Backup) error {
	data, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return err
	}
	key := backupPrefix(b.ID) + "backup.json"
	_, err = r.store.PutIfAbsent(ctx, key, bytes.NewReader(data), int64(len(data)))
	return err
}

// backupLabel is what a restore and the catalog need from backup_label.
type backupLabel struct {
	StartLSN  LSN
	StartWAL  string
	Timeline  uint32
	StartTime time.Time
	Label     string
}

// parseBackupLabel reads PostgreSQL's backup_label file.
func parseBackupLabel(b []byte) (backupLabel, error) {
	var l backupLabel
	sc := bufio.NewScanner(bytes.NewReader(b))
	seen := 0
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ": ")
		if !ok {
			continue
		}
		switch k {
		case "START WAL LOCATION": // 0/2000028 (file 000000010000000000000002)
			lsn, file, _ := strings.Cut(v, " (file ")
			var err error
			if l.StartLSN, err = ParseLSN(lsn); err != nil {
				return l, fmt.Errorf("backup_label: %w", err)
			}
			l.StartWAL = strings.TrimSuffix(file, ")")
			if _, err := ParseWALName(l.StartWAL); err != nil {
				return l, fmt.Errorf("backup_label: %w", err)
			}
			seen++
		case "START TIMELINE":
			t, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return l, fmt.Errorf("backup_label: timeline %q", v)
			}
			l.Timeline = uint32(t)
			seen++
		case "START TIME":
			l.StartTime, _ = time.Parse("2006-01-02 15:04:05 MST", v)
		case "LABEL":
			l.Label = v
		}
	}
	if seen != 2 {
		return l, errors.New("backup_label: no START WAL LOCATION or START TIMELINE")
	}
	return l, nil
}

// segmentSize finds the WAL segment size that puts lsn in the named
// segment: a power of two from 1 MiB to 1 GiB. 16 MiB, the default, when
// the start is too early to tell.
func segmentSize(lsn LSN, seg string) int64 {
	n, err := ParseWALName(seg)
	if err != nil {
		return 16 << 20
	}
	var found []int64
	for k := 20; k <= 30; k++ {
		size := uint64(1) << k
		if SegmentName(n.Timeline, lsn, size) == n {
			found = append(found, int64(size))
		}
	}
	if len(found) != 1 {
		return 16 << 20
	}
	return found[0]
}

// manifestWALRanges reads the WAL-Ranges of a backup manifest.
func manifestWALRanges(manifest []byte) ([]WALRange, error) {
	var m struct {
		WALRanges []struct {
			Timeline uint32 `json:"Timeline"`
			Start    string `json:"Start-LSN"`
			End      string `json:"End-LSN"`
		} `json:"WAL-Ranges"`
	}
	if err := json.Unmarshal(manifest, &m); err != nil {
		return nil, fmt.Errorf("backup_manifest: %w", err)
	}
	if len(m.WALRanges) == 0 {
		return nil, errors.New("backup_manifest: no WAL-Ranges")
	}
	var out []WALRange
	for _, w := range m.WALRanges {
		s, err1 := ParseLSN(w.Start)
		e, err2 := ParseLSN(w.End)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("backup_manifest: %w", err)
		}
		out = append(out, WALRange{Timeline: w.Timeline, Start: s, End: e})
	}
	return out, nil
}

// segments lists the WAL segments a range covers.
func (w WALRange) segments(segSize int64) []WALName {
	first := SegmentName(w.Timeline, w.Start, uint64(segSize))
	last := SegmentName(w.Timeline, w.End, uint64(segSize))
	var out []WALName
	perLog := (uint64(1) << 32) / uint64(segSize)
	for p := uint64(first.Log)*perLog + uint64(first.Seg); p <= uint64(last.Log)*perLog+uint64(last.Seg); p++ {
		out = append(out, WALName{Kind: WALSegment, Timeline: w.Timeline, Log: uint32(p / perLog), Seg: uint32(p % perLog)})
	}
	return out
}
