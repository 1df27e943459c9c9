package supervise

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestSpecWithDefaults(t *testing.T) {
	got, err := Spec{Name: "web-1", Command: []string{"x"}}.withDefaults()
	if err != nil {
		t.Fatalf("withDefaults() = %v", err)
	}
	if got.StopSignal != syscall.SIGTERM || got.StopGrace != DefaultStopGrace || got.MinBackoff != DefaultMinBackoff ||
		got.MaxBackoff != DefaultMaxBackoff || got.StableAfter != DefaultStableAfter || got.Env == nil {
		t.Errorf("withDefaults() = %+v; want the defaults and a non-nil Env", got)
	}
	if got, _ := (Spec{Name: "a", Command: []string{"x"}, MinBackoff: time.Minute}).withDefaults(); got.MaxBackoff != time.Minute {
		t.Errorf("MaxBackoff = %v with MinBackoff 1m; want 1m", got.MaxBackoff)
	}
	bad := []struct {
		spec Spec
		want string
	}{
		{Spec{Command: []string{"x"}}, "name"},
		{Spec{Name: "a"}, "command"},
		{Spec{Name: "a", Command: []string{""}}, "command"},
		{Spec{Name: "a", Command: []string{"x"}, MemoryLimit: -1}, "memory limit"},
		{Spec{Name: "a", Command: []string{"x"}, StopGrace: -1}, "durations"},
		{Spec{Name: "a", Command: []string{"x"}, MinBackoff: time.Second, MaxBackoff: time.Millisecond}, "min backoff"},
	}
	for _, tt := range bad {
		if _, err := tt.spec.withDefaults(); err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("withDefaults(%+v) = %v; want error starting with %q", tt.spec, err, tt.want)
		}
	}
}
