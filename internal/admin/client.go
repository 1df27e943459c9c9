package admin

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"time"
)

// ErrUnreachable means no node answered at the admin address.
var ErrUnreachable = errors.New("no tandem node answering")

// Client talks to a node's admin API.
type Client struct {
	addr  string // as given, for messages
	base  string // scheme://host:port
	token string
	http  *http.Client
}

// ClientOptions say how a Client authenticates to a node and which
// certificates it trusts.
type ClientOptions struct {
	// Token is sent as a bearer token with every request; "" sends none.
	Token string
	// RootCAs verify an https:// node's certificate; nil means the
	// system's roots.
	RootCAs *x509.CertPool
}

// NewClient returns a client without a token for the admin API at addr
// ("host:port", "http://host:port" or "https://host:port").
func NewClient(addr string) *Client {
	return NewClientWith(addr, ClientOptions{})
}

// NewClientWith returns a client for the admin API at addr (see
// NewClient) that authenticates with o.Token.
func NewClientWith(addr string, o ClientOptions) *Client {
	base := addr
	if !strings.HasPrefix(addr, "http://") && !strings.HasPrefix(addr, "https://") {
		base = "http://" + addr
	}
	tr := &http.Transport{Proxy: nil, TLSClientConfig: &tls.Config{RootCAs: o.RootCAs, MinVersion: tls.VersionTLS12}}
	return &Client{
		addr:  addr,
		base:  strings.TrimSuffix(base, "/"),
		token: o.Token,
		http:  &http.Client{Timeout: 30 * time.Second, Transport: tr},
	}
}

// newRequest makes a request to path with the client's token.
func (c *Client) newRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("admin %s %s: %w", method, path, err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	return req, nil
}

// Token is the token the client calls with; "" if none.
func (c *Client) Token() string { return c.token }

// Status fetches the node's status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	err := c.do(ctx, http.MethodGet, "/v1/status", &st)
	return st, err
}

func (c *Client) do(ctx context.Context, method, path string, out any) error {
	return c.doJSON(ctx, method, path, nil, out)
}

// doJSON sends in (if not nil) as a JSON body and decodes the answer into
// out.
func (c *Client) doJSON(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("admin %s %s: encode request: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := c.newRequest(ctx, method, path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("%w at %s (is `tandem up` running? set --admin or TANDEM_ADMIN)", ErrUnreachable, c.addr)
		}
		return fmt.Errorf("admin %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("admin %s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		var e apiError
		decoded := json.Unmarshal(answer, &e) == nil
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			return errorFor(resp.StatusCode, cmp.Or(e.Error, http.StatusText(resp.StatusCode)))
		}
		if decoded && e.Error != "" {
			return fmt.Errorf("admin %s %s: %s (HTTP %d)", method, path, e.Error, resp.StatusCode)
		}
		return fmt.Errorf("admin %s %s: HTTP %d", method, path, resp.StatusCode)
	}
	if err := json.Unmarshal(answer, out); err != nil {
		return fmt.Errorf("admin %s %s: decode answer: %w", method, path, err)
	}
	return nil
}
