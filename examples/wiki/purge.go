package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// purgeTimeout bounds how long a save waits for the edge. A purge that
// does not finish in time is logged and the edit still succeeds: the
// cached copy then lives out its s-maxage.
const purgeTimeout = 2 * time.Second

// Purger tells the edge cache to drop responses by tag, the way a CMS
// tells Varnish: a PURGE request carrying the tags in Surrogate-Key.
type Purger struct {
	url    string
	client *http.Client
}

// NewPurger returns a Purger that sends to url (TANDEM_PURGE_URL).
func NewPurger(url string) *Purger {
	return &Purger{url: url, client: &http.Client{Timeout: purgeTimeout}}
}

// Purge asks the edge to drop every response tagged with any of tags.
func (p *Purger) Purge(ctx context.Context, tags ...string) error {
	req, err := http.NewRequestWithContext(ctx, "PURGE", p.url, nil)
	if err != nil {
		return fmt.Errorf("purge %s: %w", p.url, err)
	}
	req.Header.Set("Surrogate-Key", strings.Join(tags, " "))
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("purge %s: %w", p.url, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("purge %s: edge answered %s", p.url, resp.Status)
	}
	return nil
}

// purge tells the edge that a page changed: its own URL and every list
// that shows it. It waits (bounded) so that the redirect after the save
// already sees the new page through the cache, and it outlives a client
// that hangs up. A failure is logged; the edit stands.
func (a *App) purge(ctx context.Context, title string) {
	if a.purger == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), purgeTimeout)
	defer cancel()
	if err := a.purger.Purge(ctx, pageTag(title), "index"); err != nil {
		a.log.Warn("purge failed", "title", title, "err", err)
	}
}
