package admin

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"syscall"
)

// Deploy starts a deploy of app and calls onEvent for each step until it
// is over; it returns the last event (its Result says how it ended). If
// ctx ends first, the deploy goes on in the node.
func (c *Client) Deploy(ctx context.Context, app string, req DeployRequest, onEvent func(DeployEvent)) (DeployEvent, error) {
	return c.stream(ctx, http.MethodPost, "/v1/apps/"+url.PathEscape(app)+"/deploy", req, onEvent)
}

// Rollback starts a deploy of a kept release of app; see Deploy.
func (c *Client) Rollback(ctx context.Context, app string, req RollbackRequest, onEvent func(DeployEvent)) (DeployEvent, error) {
	return c.stream(ctx, http.MethodPost, "/v1/apps/"+url.PathEscape(app)+"/rollback", req, onEvent)
}

// WatchDeploy follows the deploy of app in progress; see Deploy.
func (c *Client) WatchDeploy(ctx context.Context, app string, onEvent func(DeployEvent)) (DeployEvent, error) {
	return c.stream(ctx, http.MethodGet, "/v1/apps/"+url.PathEscape(app)+"/deploy", nil, onEvent)
}

// History returns app's kept releases and past deploys.
func (c *Client) History(ctx context.Context, app string) (History, error) {
	var h History
	err := c.call(ctx, http.MethodGet, "/v1/apps/"+url.PathEscape(app)+"/history", nil, &h)
	return h, err
}

// Plan asks what applying a stack file's apps would change.
func (c *Client) Plan(ctx context.Context, req PlanRequest) (Plan, error) {
	var p Plan
	err := c.call(ctx, http.MethodPost, "/v1/plan", req, &p)
	return p, err
}

// Pause holds app's new requests; it returns once the requests in flight
// have finished, or req.Drain has passed.
func (c *Client) Pause(ctx context.Context, app string, req PauseRequest) (GateStatus, error) {
	var g GateStatus
	err := c.call(ctx, http.MethodPost, "/v1/apps/"+url.PathEscape(app)+"/pause", req, &g)
	return g, err
}

// Maintenance turns app's maintenance page on.
func (c *Client) Maintenance(ctx context.Context, app string, req MaintenanceRequest) (GateStatus, error) {
	var g GateStatus
	err := c.call(ctx, http.MethodPost, "/v1/apps/"+url.PathEscape(app)+"/maintenance", req, &g)
	return g, err
}

// Resume ends a pause or maintenance of app.
func (c *Client) Resume(ctx context.Context, app string) (GateStatus, error) {
	var g GateStatus
	err := c.call(ctx, http.MethodPost, "/v1/apps/"+url.PathEscape(app)+"/resume", struct{}{}, &g)
	return g, err
}

// send makes a request without the client's overall timeout (ctx bounds
// it: deploys and job runs take as long as they take) and returns the
// response of a 2xx answer; other answers become errors matching
// ErrBadRequest, ErrNotFound or ErrConflict.
func (c *Client) send(ctx context.Context, method, path string, in any) (*http.Response, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("admin %s %s: encode request: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := c.newRequest(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := &http.Client{Transport: c.http.Transport}
	resp, err := hc.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%w at %s (is `tandem up` running? set --admin or TANDEM_ADMIN)", ErrUnreachable, c.addr)
		}
		return nil, fmt.Errorf("admin %s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var e apiError
	if json.Unmarshal(answer, &e) != nil || e.Error == "" {
		e.Error = fmt.Sprintf("admin %s %s", method, path)
	}
	return nil, errorFor(resp.StatusCode, e.Error)
}

// call sends in and decodes the answer into out.
func (c *Client) call(ctx context.Context, method, path string, in, out any) error {
	resp, err := c.send(ctx, method, path, in)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(out); err != nil {
		return fmt.Errorf("admin %s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// stream reads a deploy's JSON lines until the one with a result.
func (c *Client) stream(ctx context.Context, method, path string, in any, onEvent func(DeployEvent)) (DeployEvent, error) {
	resp, err := c.send(ctx, method, path, in)
	if err != nil {
		return DeployEvent{}, err
	}
	defer resp.Body.Close()
	last, err := ReadDeployStream(resp.Body, onEvent)
	if err != nil {
		return last, fmt.Errorf("admin %s %s: %w", method, path, err)
	}
	return last, nil
}

// ErrStreamEnded is returned by ReadDeployStream when the stream ends
// before the event with the deploy's result.
var ErrStreamEnded = errors.New("the stream ended before the deploy did (see tandem history)")

// ReadDeployStream reads a deploy's JSON lines from r, calling onEvent
// (if not nil) for each, until the one with a result, which it returns.
func ReadDeployStream(r io.Reader, onEvent func(DeployEvent)) (DeployEvent, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var last DeployEvent
	for sc.Scan() {
		var ev DeployEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return last, fmt.Errorf("decode event: %w", err)
		}
		last = ev
		if onEvent != nil {
			onEvent(ev)
		}
		if ev.Result != "" {
			return ev, nil
		}
	}
	if err := sc.Err(); err != nil {
		return last, fmt.Errorf("%w (the deploy goes on in the node: tandem history)", err)
	}
	return last, ErrStreamEnded
}
