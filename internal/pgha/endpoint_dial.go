package pgha

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// sslRequest is PostgreSQL's SSLRequest packet.
var sslRequest = []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}

// ErrServerRefusedTLS is returned when ServerTLS is set and a server
// answers the SSLRequest with 'N': the endpoint never falls back to plain
// TCP.
var ErrServerRefusedTLS = errors.New("server refused TLS")

// dial connects to target within DialTimeout, negotiating TLS when
// ServerTLS is set. raw is the TCP connection, conn the one to speak
// through.
func (e *Endpoint) dial(ctx context.Context, target string) (raw, conn net.Conn, err error) {
	d := net.Dialer{Timeout: e.opts.DialTimeout}
	raw, err = d.DialContext(ctx, "tcp", target)
	if err != nil {
		return nil, nil, err
	}
	if e.opts.ServerTLS == nil {
		return raw, raw, nil
	}
	raw.SetDeadline(time.Now().Add(e.opts.DialTimeout))
	conn, err = startTLS(ctx, raw, target, e.opts.ServerTLS)
	if err != nil {
		raw.Close()
		return nil, nil, err
	}
	raw.SetDeadline(time.Time{})
	return raw, conn, nil
}

// startTLS asks the server at target for TLS and completes the handshake.
func startTLS(ctx context.Context, raw net.Conn, target string, cfg *tls.Config) (net.Conn, error) {
	if _, err := raw.Write(sslRequest); err != nil {
		return nil, fmt.Errorf("request TLS: %w", err)
	}
	var answer [1]byte
	if _, err := io.ReadFull(raw, answer[:]); err != nil {
		return nil, fmt.Errorf("request TLS: %w", err)
	}
	switch answer[0] {
	case 'S':
	case 'N':
		return nil, ErrServerRefusedTLS
	default:
		return nil, fmt.Errorf("request TLS: unexpected answer %q", answer[0])
	}
	if cfg.ServerName == "" {
		host, _, _ := net.SplitHostPort(target)
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	tc := tls.Client(raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	return tc, nil
}

// forwardCancel sends a client's cancel request to the server its backend
// key belongs to. An unknown key is ignored, as PostgreSQL ignores one.
func (e *Endpoint) forwardCancel(ctx context.Context, m *pgproto3.CancelRequest, packet []byte) {
	e.mu.Lock()
	target := ""
	if s := e.keys[backendKey{pid: m.ProcessID, secret: string(m.SecretKey)}]; s != nil && !s.closed {
		target = s.target
	}
	e.mu.Unlock()
	if target == "" {
		e.log.Debug("database endpoint ignored a cancel request for an unknown backend", "pid", m.ProcessID)
		return
	}
	raw, conn, err := e.dial(ctx, target)
	if err != nil {
		e.log.Warn("database endpoint cannot forward a cancel request", "target", target, "err", err)
		return
	}
	defer raw.Close()
	conn.SetDeadline(time.Now().Add(e.opts.DialTimeout))
	if _, err := conn.Write(packet); err != nil {
		e.log.Warn("database endpoint cannot forward a cancel request", "target", target, "err", err)
		return
	}
	e.stats.cancels.Add(1)
	// The server closes the connection once it has acted on the request;
	// the client waits for the same from the endpoint.
	conn.Read(make([]byte, 1))
}
