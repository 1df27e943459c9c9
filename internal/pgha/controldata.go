package pgha

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// controlData is what tandem reads from pg_controldata of a stopped
// cluster.
type controlData struct {
	SysID      uint64
	State      string // "shut down", "in production", "shut down in recovery", ...
	Checkpoint LSN    // latest checkpoint location
	Timeline   uint32 // latest checkpoint's timeline
}

var errControlData = errors.New("unreadable pg_controldata output")

// parseControlData reads pg_controldata's "name: value" lines.
func parseControlData(out []byte) (controlData, error) {
	var cd controlData
	seen := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		var err error
		switch strings.TrimSpace(name) {
		case "Database system identifier":
			cd.SysID, err = strconv.ParseUint(value, 10, 64)
			seen++
		case "Database cluster state":
			cd.State = value
			seen++
		case "Latest checkpoint location":
			cd.Checkpoint, err = ParseLSN(value)
			seen++
		case "Latest checkpoint's TimeLineID":
			var tl uint64
			tl, err = strconv.ParseUint(value, 10, 32)
			cd.Timeline = uint32(tl)
			seen++
		}
		if err != nil {
			return controlData{}, fmt.Errorf("%w: %s: %w", errControlData, name, err)
		}
	}
	if seen < 4 || cd.SysID == 0 {
		return controlData{}, fmt.Errorf("%w: %q", errControlData, tail(out, 2))
	}
	return cd, nil
}

// controlData runs pg_controldata on the data directory.
func (s *server) controlData(ctx context.Context) (controlData, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := s.program(ctx, "pg_controldata", "-D", s.l.data())
	if err != nil {
		return controlData{}, err
	}
	return parseControlData(out)
}
