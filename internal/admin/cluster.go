package admin

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Cluster is what the cluster endpoints need of the node.
type Cluster interface {
	// Members lists the etcd members (none with an external etcd).
	Members(ctx context.Context) ([]ClusterMember, error)
	// JoinToken creates a token another node joins with, valid for ttl.
	JoinToken(ctx context.Context, ttl time.Duration) (JoinToken, error)
	// RemoveMember takes a node's etcd member out of the cluster.
	RemoveMember(ctx context.Context, name string) error
}

// ClusterStatus is the cluster as one node sees it.
type ClusterStatus struct {
	Name string `json:"name"`
	// Embedded is true when this node runs an etcd member.
	Embedded bool `json:"embedded"`
	// Quorum is whether the control plane (etcd) answers; without it the
	// edge keeps serving from its last view but nothing new is decided.
	Quorum      bool      `json:"quorum"`
	QuorumSince time.Time `json:"quorum_since,omitzero"`
	Leader      string    `json:"leader,omitempty"`
	Error       string    `json:"error,omitempty"`
	// Alarm says etcd refuses writes because its database reached its
	// quota (the NOSPACE alarm); empty when it does not.
	Alarm string `json:"alarm,omitempty"`
	// Disk is the free space under this node's data_dir.
	Disk DiskStatus `json:"disk"`
	// Synced is whether the node's view of the other nodes is current;
	// SyncedAt is when it last was.
	Synced   bool         `json:"synced"`
	SyncedAt time.Time    `json:"synced_at,omitzero"`
	Nodes    []NodeStatus `json:"nodes"`
}

// DiskStatus is the free space under a node's data_dir. While Low,
// the node refuses control-plane writes (purges are applied here only,
// deploys and token changes are refused) and its etcd member is stopped;
// the edge serves from the last view until space is freed.
type DiskStatus struct {
	Dir        string    `json:"dir"`
	FreeBytes  int64     `json:"free_bytes"` // -1 when it could not be measured
	FloorBytes int64     `json:"floor_bytes"`
	Low        bool      `json:"low"`
	Since      time.Time `json:"since,omitzero"` // when Low last changed
	// WritesRefused counts the control-plane writes refused for space
	// since the node started.
	WritesRefused uint64 `json:"writes_refused"`
	Error         string `json:"error,omitempty"` // why it could not be measured
}

// NodeStatus is one node of the cluster and its instances, as published
// in etcd.
type NodeStatus struct {
	Name    string    `json:"name"`
	Zone    string    `json:"zone"`
	Site    string    `json:"site"`
	Version string    `json:"version"`
	Addr    string    `json:"addr"` // node-to-node address
	Edge    string    `json:"edge,omitempty"`
	Admin   string    `json:"admin,omitempty"`
	Started time.Time `json:"started,omitzero"`
	Self    bool      `json:"self"`
	Apps    []NodeApp `json:"apps"`
}

// NodeApp is one app's instances on a node.
type NodeApp struct {
	Name      string         `json:"name"`
	Healthy   int            `json:"healthy"`
	Instances []NodeInstance `json:"instances"`
}

// NodeInstance is an instance as other nodes see it.
type NodeInstance struct {
	Name    string `json:"name"`
	Release string `json:"release"`
	State   string `json:"state"` // healthy, unhealthy, starting, draining
}

// ClusterMember is one etcd member.
type ClusterMember struct {
	Name       string   `json:"name"`
	ID         string   `json:"id"`
	PeerURLs   []string `json:"peer_urls"`
	ClientURLs []string `json:"client_urls"`
	Learner    bool     `json:"learner"`
	Leader     bool     `json:"leader"`
	Healthy    bool     `json:"healthy"`
}

// JoinToken is the answer to POST /v1/cluster/tokens.
type JoinToken struct {
	Token   string    `json:"token"`
	Expires time.Time `json:"expires"`
}

// JoinTokenRequest is the body of POST /v1/cluster/tokens.
type JoinTokenRequest struct {
	TTL time.Duration `json:"ttl"` // 0: the node's default
}

// MemberList is the answer to GET /v1/cluster/members.
type MemberList struct {
	Members []ClusterMember `json:"members"`
}

func (s *Server) registerCluster(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/cluster/members", s.members)
	mux.HandleFunc("POST /v1/cluster/tokens", s.joinToken)
	mux.HandleFunc("DELETE /v1/cluster/members/{name}", s.removeMember)
}

func (s *Server) members(w http.ResponseWriter, r *http.Request) {
	if s.opts.Cluster == nil {
		writeErr(w, Errorf(ErrNotFound, "this node runs no cluster"))
		return
	}
	ms, err := s.opts.Cluster.Members(r.Context())
	writeResult(w, MemberList{Members: ms}, err)
}

func (s *Server) joinToken(w http.ResponseWriter, r *http.Request) {
	if s.opts.Cluster == nil {
		writeErr(w, Errorf(ErrNotFound, "this node runs no cluster"))
		return
	}
	var req JoinTokenRequest
	if !readJSON(w, r, &req) {
		return
	}
	if req.TTL < 0 {
		writeErr(w, Errorf(ErrBadRequest, "ttl must not be negative"))
		return
	}
	tok, err := s.opts.Cluster.JoinToken(r.Context(), req.TTL)
	writeResult(w, tok, err)
}

func (s *Server) removeMember(w http.ResponseWriter, r *http.Request) {
	if s.opts.Cluster == nil {
		writeErr(w, Errorf(ErrNotFound, "this node runs no cluster"))
		return
	}
	err := s.opts.Cluster.RemoveMember(r.Context(), r.PathValue("name"))
	writeResult(w, struct{}{}, err)
}

// Members lists the cluster's etcd members.
func (c *Client) Members(ctx context.Context) ([]ClusterMember, error) {
	var l MemberList
	err := c.call(ctx, http.MethodGet, "/v1/cluster/members", nil, &l)
	return l.Members, err
}

// JoinToken creates a join token valid for ttl (0: the node's default).
func (c *Client) JoinToken(ctx context.Context, ttl time.Duration) (JoinToken, error) {
	var tok JoinToken
	err := c.call(ctx, http.MethodPost, "/v1/cluster/tokens", JoinTokenRequest{TTL: ttl}, &tok)
	return tok, err
}

// RemoveMember removes a node's etcd member from the cluster.
func (c *Client) RemoveMember(ctx context.Context, name string) error {
	return c.call(ctx, http.MethodDelete, "/v1/cluster/members/"+url.PathEscape(name), nil, &struct{}{})
}
