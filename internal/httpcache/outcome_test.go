package httpcache

import (
	"slices"
	"testing"
)

func TestOutcome(t *testing.T) {
	tests := []struct {
		field []string
		want  string
	}{
		{nil, ""},
		{[]string{"tandem; hit; ttl=42"}, OutcomeHit},
		{[]string{"tandem; hit; ttl=-3; detail=stale-while-revalidate"}, OutcomeStale},
		{[]string{"tandem; hit; ttl=-3; detail=max-stale"}, OutcomeStale},
		{[]string{"tandem; fwd=uri-miss; fwd-status=200; stored; ttl=60"}, OutcomeMiss},
		{[]string{"tandem; fwd=vary-miss; fwd-status=200"}, OutcomeMiss},
		{[]string{"tandem; fwd=uri-miss; fwd-status=200; stored; collapsed; ttl=60"}, OutcomeHit},
		{[]string{"tandem; fwd=stale; fwd-status=304; stored; ttl=60"}, OutcomeRevalidated},
		{[]string{"tandem; fwd=stale; fwd-status=200; stored; ttl=60"}, OutcomeMiss},
		{[]string{"tandem; fwd=stale; fwd-status=503; ttl=-5; detail=stale-if-error"}, OutcomeStale},
		{[]string{`tandem; fwd=uri-miss; fwd-status=200; detail="not-stored stale-on-arrival"`}, OutcomeMiss},
		{[]string{"tandem; fwd=bypass; fwd-status=200; detail=hit-for-pass"}, OutcomePass},
		{[]string{"tandem; fwd=method; fwd-status=201"}, OutcomePass},
		{[]string{"tandem; fwd=request; fwd-status=200; detail=no-store"}, OutcomePass},
		{[]string{"tandem; fwd=uri-miss; detail=only-if-cached"}, OutcomeMiss},
		// The app's or another cache's members do not count; ours is last.
		{[]string{"origin-cache; hit", "tandem; fwd=uri-miss; fwd-status=200"}, OutcomeMiss},
		{[]string{"cdn; fwd=uri-miss, tandem; hit; ttl=5"}, OutcomeHit},
		{[]string{"tandemx; hit"}, ""},
	}
	for _, tt := range tests {
		if got := outcomeOf(tt.field, DefaultName); got != tt.want {
			t.Errorf("outcomeOf(%q) = %q; want %q", tt.field, got, tt.want)
		}
	}
}

// FuzzOutcome: any Cache-Status an app sends yields one of the outcomes.
func FuzzOutcome(f *testing.F) {
	f.Add("tandem; hit; ttl=1")
	f.Add(`tandem; fwd=stale; fwd-status=304; detail="x, y"`)
	known := []string{"", OutcomeHit, OutcomeStale, OutcomeMiss, OutcomeRevalidated, OutcomePass}
	f.Fuzz(func(t *testing.T, field string) {
		if got := outcomeOf([]string{field}, DefaultName); !slices.Contains(known, got) {
			t.Errorf("outcomeOf(%q) = %q; want one of %q", field, got, known)
		}
	})
}

func BenchmarkOutcome(b *testing.B) {
	lines := []string{"tandem; fwd=uri-miss; fwd-status=200; stored; ttl=60"}
	b.ReportAllocs()
	for b.Loop() {
		outcomeOf(lines, DefaultName)
	}
}
