package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
)

// PurgeRequest is the body of POST /v1/purge: exactly one of URL, Tags or
// a ban (BanHost and/or BanPath, regular expressions).
type PurgeRequest struct {
	URL     string   `json:"url,omitempty"`
	Tags    []string `json:"tags,omitempty"`
	BanHost string   `json:"ban_host,omitempty"`
	BanPath string   `json:"ban_path,omitempty"`
	// Soft marks stale instead of removing: the next request is answered
	// at once from the stale copy while one request refreshes it.
	Soft bool `json:"soft,omitempty"`
	// Wait answers only once every live node of the cluster has applied
	// the purge, not just this one.
	Wait bool `json:"wait,omitempty"`
}

// PurgeResult is the answer to a purge.
type PurgeResult struct {
	Purged int `json:"purged"`
}

// ErrBadRequest marks a request the API refused as malformed; Purge
// implementations wrap it so the API answers 400.
var ErrBadRequest = errors.New("bad request")

func (s *Server) purge(w http.ResponseWriter, r *http.Request) {
	if s.opts.Purge == nil {
		writeError(w, http.StatusNotImplemented, "this node has no cache")
		return
	}
	var req PurgeRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "decode purge request: "+err.Error())
		return
	}
	n, err := s.opts.Purge(r.Context(), req)
	writeResult(w, PurgeResult{Purged: n}, err)
}

// Purge asks the node to purge its cache.
func (c *Client) Purge(ctx context.Context, req PurgeRequest) (PurgeResult, error) {
	var res PurgeResult
	err := c.doJSON(ctx, http.MethodPost, "/v1/purge", req, &res)
	return res, err
}
