package edge

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tandem-run/tandem/internal/httpcache"
)

// incompletePurger applies a purge nowhere else, as the node's does while
// its control plane cannot take writes.
type incompletePurger struct{}

func (incompletePurger) Purge(context.Context, httpcache.Event) (int, error) {
	return 1, fmt.Errorf("%w: applied here, not recorded for the other nodes: data_dir /var/lib/tandem has 3.1 MiB free, below the 128 MiB floor: control-plane writes refused", ErrPurgeIncomplete)
}

// TestPurgeIncompleteSaysWhy: a purge that holds here but not everywhere
// answers 503 with the Purger's reason, not the no-instance page.
func TestPurgeIncompleteSaysWhy(t *testing.T) {
	const token = "0123456789abcdef"
	s, _ := newTestEdge(t, map[string]http.RoundTripper{"web": failing{nil}}, []Route{{App: "web"}},
		func(o *Options) { o.Purge = PurgeOptions{Token: token, Purger: incompletePurger{}} })
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("PURGE", "/a", nil)
	req.Header.Set("X-Purge-Token", token)
	s.Handler().ServeHTTP(rec, req)
	body := rec.Body.String()
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(body, "below the 128 MiB floor") || strings.Contains(body, "No instance") {
		t.Errorf("PURGE not replicated = %d %q; want 503 saying why", rec.Code, body)
	}
	if got := rec.Header().Get("Retry-After"); got == "" {
		t.Errorf("Retry-After missing on the 503")
	}
}
