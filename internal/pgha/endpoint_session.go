package pgha

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// session is one client connection to the endpoint and, once dialled, its
// connection to a server. Its fields are guarded by the Endpoint's mu.
type session struct {
	client net.Conn
	target string   // the server's address; "" until attached
	server net.Conn // the raw TCP connection to target (under TLS, if any); nil until attached
	key    backendKey
	hasKey bool // key is registered in Endpoint.keys
	closed bool
}

// serve runs one client connection from its first byte to its end.
func (e *Endpoint) serve(ctx context.Context, c net.Conn) {
	s := &session{client: c}
	if !e.addSession(s) {
		c.Close()
		return
	}
	e.stats.open.Add(1)
	defer func() {
		e.closeSession(s)
		e.removeSession(s)
		e.stats.open.Add(-1)
	}()

	c.SetDeadline(time.Now().Add(e.opts.StartupTimeout))
	st, err := readStartupNegotiating(c)
	if err != nil {
		e.stats.badStartup.Add(1)
		e.log.Debug("database client closed before a valid startup", "client", c.RemoteAddr().String(), "err", err)
		if errors.Is(err, ErrBadStartup) {
			// A client speaking something else, or a newer protocol: say
			// why, as PostgreSQL does, rather than just hang up.
			writeError(c, codeProtocol, "invalid startup packet", err.Error(), "")
		}
		return
	}
	switch m := st.msg.(type) {
	case *pgproto3.CancelRequest:
		e.forwardCancel(ctx, m, st.raw)
	case *pgproto3.StartupMessage:
		e.relay(ctx, s, m, st.raw)
	}
}

func (e *Endpoint) addSession(s *session) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return false
	}
	e.sessions[s] = struct{}{}
	return true
}

func (e *Endpoint) removeSession(s *session) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.sessions, s)
	if s.hasKey && e.keys[s.key] == s {
		delete(e.keys, s.key)
	}
}

// closeSession closes both of a session's connections, once. The raw TCP
// connection to the server is closed rather than its TLS layer, which
// would first try to send an alert: a demoted primary is cut off at once.
func (e *Endpoint) closeSession(s *session) {
	e.mu.Lock()
	if s.closed {
		e.mu.Unlock()
		return
	}
	s.closed = true
	c, srv := s.client, s.server
	e.mu.Unlock()
	c.Close()
	if srv != nil {
		srv.Close()
	}
}

// attach records that s is connected to target through raw, unless the
// target changed meanwhile or s was closed; it reports whether it did.
func (e *Endpoint) attach(s *session, target string, raw net.Conn) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s.closed || e.closed || e.target != target {
		return false
	}
	s.target, s.server = target, raw
	return true
}

func (e *Endpoint) registerKey(s *session, k backendKey) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s.closed {
		return
	}
	s.key, s.hasKey = k, true
	e.keys[k] = s
}

// relay connects the client of s to the target and copies bytes both
// ways until either side ends or the session is closed.
func (e *Endpoint) relay(ctx context.Context, s *session, m *pgproto3.StartupMessage, raw []byte) {
	c := s.client
	c.SetDeadline(time.Time{})
	if e.opts.ReadOnly {
		m.Parameters["default_transaction_read_only"] = "on"
		var err error
		if raw, err = m.Encode(nil); err != nil {
			e.stats.badStartup.Add(1)
			writeError(c, codeProtocol, "invalid startup packet", err.Error(), "")
			return
		}
	}
	server, err := e.connect(ctx, s)
	if err != nil {
		return
	}
	deadline := time.Now().Add(e.opts.AuthTimeout)
	server.SetDeadline(deadline)
	c.SetDeadline(deadline)
	if _, err := server.Write(raw); err != nil {
		e.log.Warn("database endpoint lost the server during startup", "target", s.target, "err", err)
		return
	}
	e.stats.relayed.Add(1)
	e.stats.relaying.Add(1)
	defer e.stats.relaying.Add(-1)

	done := make(chan struct{})
	go func() {
		defer close(done)
		pipe(server, c, &e.stats.toServer)
		e.closeSession(s)
	}()
	if err := e.relayAuth(s, server, c); err == nil {
		pipe(c, server, &e.stats.toClient)
	}
	e.closeSession(s)
	<-done
}

// relayAuth forwards the server's messages to the client until the first
// ReadyForQuery, noting the BackendKeyData for cancel requests. Each
// message is forwarded as received; writes are batched while more is
// already buffered. Then any bytes read past ReadyForQuery are forwarded
// and the deadlines cleared: from here on the relay copies bytes only.
func (e *Endpoint) relayAuth(s *session, server, client net.Conn) error {
	br := bufio.NewReaderSize(server, 4096)
	bw := bufio.NewWriterSize(client, 4096)
	var head [5]byte
	for {
		if br.Buffered() == 0 {
			if err := bw.Flush(); err != nil {
				return err
			}
		}
		if _, err := io.ReadFull(br, head[:]); err != nil {
			return err
		}
		n := int64(binary.BigEndian.Uint32(head[1:])) - 4
		if n < 0 {
			return fmt.Errorf("server message %q: invalid length %d", head[0], n+4)
		}
		switch {
		case head[0] == 'K':
			bw.Write(head[:])
			if err := e.backendKeyData(s, br, bw, n); err != nil {
				return err
			}
		case head[0] == 'R' && n >= 4 && n <= maxSASLMessage:
			if err := relayAuthentication(br, bw, n); err != nil {
				return err
			}
		default:
			bw.Write(head[:])
			if _, err := io.CopyN(bw, br, n); err != nil {
				return err
			}
		}
		if head[0] == 'Z' {
			break
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if n := br.Buffered(); n > 0 {
		if _, err := io.CopyN(client, br, int64(n)); err != nil {
			return err
		}
	}
	server.SetDeadline(time.Time{})
	client.SetDeadline(time.Time{})
	return nil
}

// maxSASLMessage bounds the authentication messages relayAuthentication
// reads whole; larger ones are copied as they are.
const maxSASLMessage = 4096

// authSASL is the authentication type of AuthenticationSASL: the server
// lists the SASL mechanisms it accepts.
const authSASL = 10

// relayAuthentication forwards an Authentication message whose body is n
// bytes. The server, reached over TLS, offers SCRAM-SHA-256-PLUS (SCRAM
// bound to that TLS channel) besides SCRAM-SHA-256; the client reaches
// the endpoint without TLS, and libpq refuses a server that offers
// channel binding over a connection without it. So the -PLUS mechanisms
// are taken out of the list: the client authenticates with plain
// SCRAM-SHA-256, end to end, which the server accepts.
func relayAuthentication(br *bufio.Reader, bw *bufio.Writer, n int64) error {
	body := make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		return err
	}
	if binary.BigEndian.Uint32(body) == authSASL {
		body = withoutChannelBinding(body)
	}
	var head [5]byte
	head[0] = 'R'
	binary.BigEndian.PutUint32(head[1:], uint32(len(body)+4))
	bw.Write(head[:])
	bw.Write(body)
	return nil
}

// withoutChannelBinding returns an AuthenticationSASL body without the
// mechanisms that need channel binding (…-PLUS); the body as it is when
// nothing else would be left or it is malformed.
func withoutChannelBinding(body []byte) []byte {
	out := append([]byte(nil), body[:4]...)
	kept := 0
	for rest := body[4:]; len(rest) > 0 && rest[0] != 0; {
		end := bytes.IndexByte(rest, 0)
		if end < 0 {
			return body
		}
		mech := rest[:end]
		if !bytes.HasSuffix(mech, []byte("-PLUS")) {
			out = append(append(out, mech...), 0)
			kept++
		}
		rest = rest[end+1:]
	}
	if kept == 0 {
		return body
	}
	return append(out, 0)
}

// backendKeyData forwards a BackendKeyData message's body of n bytes and
// registers its key.
func (e *Endpoint) backendKeyData(s *session, br *bufio.Reader, bw *bufio.Writer, n int64) error {
	if n > 4+256 {
		return fmt.Errorf("server BackendKeyData: length %d", n+4)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		return err
	}
	bw.Write(body)
	var k pgproto3.BackendKeyData
	if err := k.Decode(body); err != nil {
		return fmt.Errorf("server BackendKeyData: %w", err)
	}
	e.registerKey(s, backendKey{pid: k.ProcessID, secret: string(k.SecretKey)})
	return nil
}

// errNoTarget is why connect gives up when it has told the client so.
var errNoTarget = errors.New("no database target")

// connect dials the target for s, holding the client up to Hold while
// there is none or the target cannot be reached, and attaches the
// connection to s. When it gives up it has answered the client 57P03. It
// returns the connection to speak through (TLS, if configured).
func (e *Endpoint) connect(ctx context.Context, s *session) (net.Conn, error) {
	until := time.Now().Add(e.opts.Hold)
	avoid := ""       // a target that could not be reached
	var lastErr error // why avoid could not be reached
	for {
		target, err := e.awaitTarget(ctx, until, avoid)
		if err != nil {
			return nil, err
		}
		if target == "" {
			e.refuseNoTarget(s.client, avoid, lastErr)
			return nil, errNoTarget
		}
		raw, conn, err := e.dial(ctx, target)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			e.warnUnreachable(target, err)
			avoid, lastErr = target, err
			continue
		}
		if e.attach(s, target, raw) {
			return conn, nil
		}
		raw.Close() // the target changed while dialling: take the new one
		avoid, lastErr = "", nil
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
}

// awaitTarget returns the current target unless it is "" or avoid; then
// it waits for a change until the time until, and returns "" if none came.
func (e *Endpoint) awaitTarget(ctx context.Context, until time.Time, avoid string) (string, error) {
	for {
		e.mu.Lock()
		target, changed, closed := e.target, e.changed, e.closed
		e.mu.Unlock()
		if closed {
			return "", net.ErrClosed
		}
		if target != "" && target != avoid {
			return target, nil
		}
		wait := time.Until(until)
		if wait <= 0 {
			return "", nil
		}
		e.stats.waiting.Add(1)
		t := time.NewTimer(wait)
		select {
		case <-changed:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		e.stats.waiting.Add(-1)
		if err := ctx.Err(); err != nil {
			return "", err
		}
	}
}

// warnUnreachable logs a failed dial of the target: at most once a second
// as a warning, other times at debug level, since every new connection
// tries while the target is down.
func (e *Endpoint) warnUnreachable(target string, err error) {
	now := time.Now().UnixNano()
	last := e.lastDialWarn.Load()
	if now-last >= int64(time.Second) && e.lastDialWarn.CompareAndSwap(last, now) {
		e.log.Warn("database endpoint cannot reach its target", "target", target, "err", err)
		return
	}
	e.log.Debug("database endpoint cannot reach its target", "target", target, "err", err)
}

// refuseNoTarget answers 57P03: there is no target, or the one there is
// (unreachable) could not be reached.
func (e *Endpoint) refuseNoTarget(c net.Conn, unreachable string, why error) {
	e.stats.refusedNoTarget.Add(1)
	role := "primary"
	if e.opts.ReadOnly {
		role = "standby"
	}
	detail := fmt.Sprintf("tandem's database endpoint has no %s to send this connection to.", role)
	if unreachable != "" {
		detail = fmt.Sprintf("tandem's database endpoint could not reach the %s at %s: %v.", role, unreachable, why)
	}
	if e.opts.Hold > 0 {
		detail += fmt.Sprintf(" It waited %s.", e.opts.Hold)
	}
	writeError(c, codeCannotConnectNow, "the database system is failing over; retry", detail,
		"Connect again in a moment: tandem moves the endpoint to the new "+role+" as soon as there is one.")
}
