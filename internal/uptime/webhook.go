package uptime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// Defaults of WebhookOptions.
const (
	webhookAttempts = 4
	webhookBackoff  = time.Second
	webhookTimeout  = 10 * time.Second
)

// WebhookOptions configure a Webhook.
type WebhookOptions struct {
	// URL receives a JSON POST of each Notice; http or https.
	URL string
	// Headers are sent with each POST (Authorization, ...).
	Headers map[string]string
	// Attempts bounds the tries per notice, counting the first; 0 means 4.
	Attempts int
	// Backoff is the pause after the first failed try, doubled after each
	// further one; 0 means 1s.
	Backoff time.Duration
	// Timeout bounds each try; 0 means 10s.
	Timeout time.Duration
	// Transport sends the requests; nil means a transport of its own.
	Transport http.RoundTripper
}

// Webhook is a Notifier that POSTs each Notice as JSON. A try that fails
// to connect or gets a 5xx or 429 answer is retried after a growing
// pause; any other answer but 2xx is final.
type Webhook struct {
	opts   WebhookOptions
	host   string // for messages: the URL itself may hold a token
	client *http.Client
}

var _ Notifier = (*Webhook)(nil)

// NewWebhook checks opts. It sends nothing.
func NewWebhook(opts WebhookOptions) (*Webhook, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("new webhook: url is not an http or https URL")
	}
	if opts.Attempts <= 0 {
		opts.Attempts = webhookAttempts
	}
	if opts.Backoff <= 0 {
		opts.Backoff = webhookBackoff
	}
	if opts.Timeout <= 0 {
		opts.Timeout = webhookTimeout
	}
	rt := opts.Transport
	if rt == nil {
		rt = &http.Transport{Proxy: http.ProxyFromEnvironment, TLSHandshakeTimeout: 10 * time.Second, ForceAttemptHTTP2: true}
	}
	return &Webhook{opts: opts, host: u.Host, client: &http.Client{Transport: rt}}, nil
}

// Notify implements Notifier.
func (w *Webhook) Notify(ctx context.Context, n Notice) error {
	body, err := json.Marshal(n)
	if err != nil {
		return fmt.Errorf("webhook %s: encode notice: %w", w.host, err)
	}
	pause := w.opts.Backoff
	for attempt := 1; ; attempt++ {
		retry, err := w.post(ctx, body)
		if err == nil {
			return nil
		}
		if !retry || attempt == w.opts.Attempts {
			return fmt.Errorf("webhook %s: %d %s: %w", w.host, attempt, plural(attempt, "try", "tries"), err)
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("webhook %s: gave up after %d %s: %w (last: %w)", w.host, attempt, plural(attempt, "try", "tries"), ctx.Err(), err)
		case <-t.C:
		}
		pause *= 2
	}
}

// post sends body once and says whether a failure is worth a retry.
func (w *Webhook) post(ctx context.Context, body []byte) (retry bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, w.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.opts.URL, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	for k, v := range w.opts.Headers {
		req.Header.Set(k, v)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, which may hold a token
		}
		return true, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused; the body says nothing we act on
	switch code := resp.StatusCode; {
	case code/100 == 2:
		return false, nil
	case code >= 500 || code == http.StatusTooManyRequests:
		return true, fmt.Errorf("status %d", code)
	default:
		return false, fmt.Errorf("status %d", code)
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
