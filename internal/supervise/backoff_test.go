package supervise

import (
	"testing"
	"time"
)

func TestRestartPolicy(t *testing.T) {
	const ms = time.Millisecond
	type exit struct {
		uptime    time.Duration
		delay     time.Duration
		crashLoop bool
	}
	tests := []struct {
		name  string
		exits []exit
	}{
		{"doubles up to max", []exit{
			{0, 100 * ms, false}, {0, 200 * ms, false}, {0, 400 * ms, false}, {0, 800 * ms, false},
		}},
		{"crash loop at the fifth exit, retried at max", []exit{
			{0, 100 * ms, false}, {0, 200 * ms, false}, {0, 400 * ms, false}, {0, 800 * ms, false},
			{0, time.Second, true}, {0, time.Second, true}, {5 * time.Second, time.Second, true},
		}},
		{"staying up resets", []exit{
			{0, 100 * ms, false}, {0, 200 * ms, false}, {0, 400 * ms, false},
			{10 * time.Second, 100 * ms, false}, {0, 200 * ms, false},
		}},
		{"staying up ends a crash loop", []exit{
			{0, 100 * ms, false}, {0, 200 * ms, false}, {0, 400 * ms, false}, {0, 800 * ms, false},
			{0, time.Second, true}, {time.Minute, 100 * ms, false},
		}},
		{"max caps the delay", []exit{
			{0, 100 * ms, false}, {0, 200 * ms, false}, {0, 400 * ms, false}, {0, 800 * ms, false},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &restartPolicy{min: 100 * ms, max: time.Second, stableAfter: 10 * time.Second}
			for i, e := range tt.exits {
				delay, crash := p.exited(e.uptime)
				if delay != e.delay || crash != e.crashLoop {
					t.Fatalf("exit %d: exited(%v) = %v, %v; want %v, %v", i, e.uptime, delay, crash, e.delay, e.crashLoop)
				}
			}
		})
	}
}

func TestRestartPolicyMaxBelowDoubling(t *testing.T) {
	p := &restartPolicy{min: 300 * time.Millisecond, max: 500 * time.Millisecond, stableAfter: time.Second}
	want := []time.Duration{300 * time.Millisecond, 500 * time.Millisecond, 500 * time.Millisecond}
	for i, w := range want {
		if d, _ := p.exited(0); d != w {
			t.Errorf("exit %d: exited(0) = %v; want %v", i, d, w)
		}
	}
}

func TestRestartPolicyStable(t *testing.T) {
	p := &restartPolicy{min: time.Millisecond, max: time.Second, stableAfter: time.Hour}
	for range CrashLoopExits {
		p.exited(0)
	}
	if !p.crashLooping() {
		t.Fatalf("crashLooping() = false after %d exits; want true", CrashLoopExits)
	}
	p.stable()
	if p.crashLooping() {
		t.Errorf("crashLooping() = true after stable(); want false")
	}
	if d, crash := p.exited(0); d != time.Millisecond || crash {
		t.Errorf("exited(0) after stable() = %v, %v; want 1ms, false", d, crash)
	}
}

func TestRestartPolicyJitter(t *testing.T) {
	for _, r := range []float64{0, 0.5, 0.999} {
		p := &restartPolicy{min: time.Second, max: time.Minute, stableAfter: time.Hour, jitter: func() float64 { return r }}
		d, _ := p.exited(0)
		if d > time.Second || d < 800*time.Millisecond {
			t.Errorf("jitter %v: exited(0) = %v; want within [800ms, 1s]", r, d)
		}
	}
}
