package cli

import (
	"strings"
	"testing"
	"time"
)

// TestRestoreRequest: the restore flags give one target and a directory,
// or an error that names the flag.
func TestRestoreRequest(t *testing.T) {
	for _, tc := range []struct {
		at, id, dir string
		latest      bool
		wantErr     string
		wantTime    time.Time
	}{
		{at: "2026-12-06T04:54:03Z", dir: "/srv/copy", wantTime: time.Date(2026, 12, 6, 4, 54, 3, 0, time.UTC)},
		{at: "2026-12-06T05:54:03.25+01:00", id: "b1", dir: "/srv/copy", wantTime: time.Date(2026, 12, 6, 4, 54, 3, 250e6, time.UTC)},
		{latest: true, dir: "/srv/copy"},
		{id: "b1", dir: "/srv/copy"},
		{latest: true, wantErr: "--to DIR is required"},
		{dir: "/srv/copy", wantErr: "--time T, --latest or --backup ID"},
		{latest: true, at: "2026-12-06T04:54:03Z", dir: "/srv/copy", wantErr: "--latest goes alone"},
		{at: "yesterday", dir: "/srv/copy", wantErr: "--time"},
	} {
		req, err := restoreRequest(tc.at, tc.id, tc.dir, tc.latest)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("restoreRequest(%q, %q, %q, %v) = %v; want an error saying %q", tc.at, tc.id, tc.dir, tc.latest, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("restoreRequest(%q, %q, %q, %v): %v", tc.at, tc.id, tc.dir, tc.latest, err)
		case !req.Time.Equal(tc.wantTime) || req.Backup != tc.id || req.Dir != tc.dir:
			t.Errorf("restoreRequest(%q, %q, %q, %v) = %+v", tc.at, tc.id, tc.dir, tc.latest, req)
		}
	}
}
