package pgha

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"maps"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

func startupPacket(t testing.TB, params map[string]string) []byte {
	t.Helper()
	b, err := (&pgproto3.StartupMessage{ProtocolVersion: pgproto3.ProtocolVersion30, Parameters: params}).Encode(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func packet(code uint32, body ...byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(8+len(body)))
	b = binary.BigEndian.AppendUint32(b, code)
	return append(b, body...)
}

// pipeEndpoint serves one end of a net.Pipe with a new endpoint inside a
// synctest bubble, and returns the other end. serve's return is awaited
// when the test ends.
func pipeEndpoint(t *testing.T, opts EndpointOptions) (*Endpoint, net.Conn, context.CancelFunc) {
	t.Helper()
	opts.Listen = "127.0.0.1:0"
	e, err := NewEndpoint(opts)
	if err != nil {
		t.Fatal(err)
	}
	client, server := net.Pipe()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.serve(ctx, server)
	}()
	t.Cleanup(func() {
		cancel()
		client.Close()
		<-done
	})
	return e, client, cancel
}

// readAnswer reads what the endpoint sends until it closes the pipe.
func readAnswer(t *testing.T, c net.Conn) []byte {
	t.Helper()
	b, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("read the endpoint's answer: %v", err)
	}
	return b
}

// errorCode decodes an ErrorResponse and returns its SQLSTATE.
func errorCode(t *testing.T, b []byte) string {
	t.Helper()
	if len(b) < 5 || b[0] != 'E' {
		t.Fatalf("answer %q; want an ErrorResponse", b)
	}
	var er pgproto3.ErrorResponse
	if err := er.Decode(b[5:]); err != nil {
		t.Fatalf("decode ErrorResponse %q: %v", b, err)
	}
	if er.Severity != "FATAL" {
		t.Errorf("severity %q; want FATAL", er.Severity)
	}
	return er.Code
}

// TestEndpointHostileStartup feeds the endpoint clients that send nothing,
// too little, too much or the wrong thing, and checks each is closed
// within the startup deadline having cost at most one startup packet.
func TestEndpointHostileStartup(t *testing.T) {
	const timeout = 5 * time.Second
	tests := []struct {
		name     string
		send     []byte
		elapsed  time.Duration // when the endpoint closes, in the bubble's time
		wantCode string        // SQLSTATE of the answer; "" for none
	}{
		{"nothing", nil, timeout, ""},
		{"half a length", []byte{0, 0}, timeout, ""},
		{"half a packet", append(binary.BigEndian.AppendUint32(nil, 100), make([]byte, 10)...), timeout, ""},
		{"huge length", []byte{0x7f, 0xff, 0xff, 0xff}, 0, codeProtocol},
		{"negative length", []byte{0xff, 0xff, 0xff, 0xf0}, 0, codeProtocol},
		{"length below minimum", []byte{0, 0, 0, 4}, 0, codeProtocol},
		{"just over the maximum", binary.BigEndian.AppendUint32(nil, maxStartupPacket+1), 0, codeProtocol},
		{"http", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 0, codeProtocol},
		{"protocol 2", packet(2 << 16), 0, codeProtocol},
		{"protocol 3.1", packet(3<<16 | 1), 0, codeProtocol},
		{"startup without terminator", packet(pgproto3.ProtocolVersion30, 'u', 0, 'x'), 0, codeProtocol},
		{"cancel too short", packet(codeCancel, 1, 2), 0, codeProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e, c, _ := pipeEndpoint(t, EndpointOptions{StartupTimeout: timeout})
				start := time.Now()
				go c.Write(tt.send)
				answer := readAnswer(t, c)
				if d := time.Since(start); d != tt.elapsed {
					t.Errorf("closed after %s; want %s", d, tt.elapsed)
				}
				if tt.wantCode == "" && len(answer) > 0 {
					t.Errorf("answer %q; want none", answer)
				}
				if tt.wantCode != "" {
					if code := errorCode(t, answer); code != tt.wantCode {
						t.Errorf("SQLSTATE %s; want %s", code, tt.wantCode)
					}
				}
				synctest.Wait()
				if st := e.Stats(); st.BadStartup != 1 || st.Open != 0 {
					t.Errorf("Stats() = %+v; want one bad startup, nothing open", st)
				}
			})
		})
	}
}

// TestEndpointSlowClient: a client trickling its startup packet a byte a
// second cannot hold a connection open past the startup deadline.
func TestEndpointSlowClient(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, c, _ := pipeEndpoint(t, EndpointOptions{StartupTimeout: 3 * time.Second})
		start := time.Now()
		pkt := startupPacket(t, map[string]string{"user": "u"})
		wrote := make(chan struct{})
		go func() {
			defer close(wrote)
			for _, b := range pkt {
				if _, err := c.Write([]byte{b}); err != nil {
					return
				}
				time.Sleep(time.Second)
			}
		}()
		readAnswer(t, c)
		if d := time.Since(start); d != 3*time.Second {
			t.Errorf("slow client closed after %s; want 3s", d)
		}
		<-wrote
	})
}

// TestEndpointEncryptionRequests: SSLRequest and GSSENCRequest are
// answered 'N' (the client then goes on in the clear); a client that keeps
// asking is closed.
func TestEndpointEncryptionRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, c, _ := pipeEndpoint(t, EndpointOptions{})
		answer := make([]byte, 1)
		for _, req := range [][]byte{packet(codeGSSENC), packet(codeSSL)} {
			go c.Write(req)
			if _, err := io.ReadFull(c, answer); err != nil || answer[0] != 'N' {
				t.Fatalf("answer to %x: %q, %v; want N", req, answer, err)
			}
		}
		go c.Write(packet(codeSSL))
		if code := errorCode(t, readAnswer(t, c)); code != codeProtocol {
			t.Errorf("third encryption request: SQLSTATE %s; want %s", code, codeProtocol)
		}
		synctest.Wait()
		if st := e.Stats(); st.BadStartup != 1 {
			t.Errorf("Stats().BadStartup = %d; want 1", st.BadStartup)
		}
	})
}

// TestEndpointHoldExpires: with no target, a client is answered 57P03
// exactly when Hold runs out, not before and not never.
func TestEndpointHoldExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, c, _ := pipeEndpoint(t, EndpointOptions{Hold: 4 * time.Second})
		start := time.Now()
		go c.Write(startupPacket(t, map[string]string{"user": "app", "database": "app"}))
		synctest.Wait()
		if st := e.Stats(); st.Waiting != 1 {
			t.Errorf("Stats().Waiting = %d; want 1 while held", st.Waiting)
		}
		answer := readAnswer(t, c)
		if d := time.Since(start); d != 4*time.Second {
			t.Errorf("answered after %s; want 4s", d)
		}
		if code := errorCode(t, answer); code != codeCannotConnectNow {
			t.Errorf("SQLSTATE %s; want %s", code, codeCannotConnectNow)
		}
		if st := e.Stats(); st.Waiting != 0 || st.RefusedNoTarget != 1 {
			t.Errorf("Stats() = %+v; want none waiting, one refused", st)
		}
	})
}

// TestEndpointHoldEndsWithRun: a held client is let go when the endpoint
// shuts down, without waiting out Hold.
func TestEndpointHoldEndsWithRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, c, cancel := pipeEndpoint(t, EndpointOptions{Hold: time.Hour})
		go c.Write(startupPacket(t, map[string]string{"user": "app"}))
		synctest.Wait()
		start := time.Now()
		cancel()
		readAnswer(t, c)
		if d := time.Since(start); d != 0 {
			t.Errorf("held client closed %s after shutdown; want at once", d)
		}
		synctest.Wait()
		if st := e.Stats(); st.Open != 0 || st.Waiting != 0 {
			t.Errorf("Stats() = %+v; want nothing open", st)
		}
	})
}

// TestEndpointCancelUnknownKey: a cancel request naming no relayed
// backend is dropped, as PostgreSQL drops one, and costs no dial.
func TestEndpointCancelUnknownKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, c, _ := pipeEndpoint(t, EndpointOptions{})
		e.SetTarget("192.0.2.1:5432") // TEST-NET-1: never dialled here
		go c.Write(packet(codeCancel, 0, 0, 0, 7, 1, 2, 3, 4))
		if answer := readAnswer(t, c); len(answer) != 0 {
			t.Errorf("answer %q; want the connection closed without one", answer)
		}
		if st := e.Stats(); st.Cancels != 0 {
			t.Errorf("Stats().Cancels = %d; want 0", st.Cancels)
		}
	})
}

func TestReadStartup(t *testing.T) {
	params := map[string]string{"user": "wiki", "database": "wiki", "application_name": "x y"}
	pkt := startupPacket(t, params)
	r := bytes.NewReader(append(pkt, "more"...))
	st, err := readStartup(r)
	if err != nil {
		t.Fatal(err)
	}
	m, ok := st.msg.(*pgproto3.StartupMessage)
	if !ok || !maps.Equal(m.Parameters, params) || !bytes.Equal(st.raw, pkt) {
		t.Errorf("readStartup = %#v, raw %q; want %v", st.msg, st.raw, params)
	}
	if r.Len() != 4 {
		t.Errorf("readStartup left %d bytes; want the 4 after the packet untouched", r.Len())
	}
	cancel := packet(codeCancel, 0, 0, 1, 0, 9, 9, 9, 9)
	st, err = readStartup(bytes.NewReader(cancel))
	if c, ok := st.msg.(*pgproto3.CancelRequest); err != nil || !ok || c.ProcessID != 256 || !bytes.Equal(c.SecretKey, []byte{9, 9, 9, 9}) {
		t.Errorf("readStartup(cancel) = %#v, %v; want pid 256, key 9999", st.msg, err)
	}
}

func FuzzReadStartup(f *testing.F) {
	f.Add(startupPacket(f, map[string]string{"user": "u", "database": "d"}))
	f.Add(packet(codeSSL))
	f.Add(packet(codeGSSENC))
	f.Add(packet(codeCancel, 0, 0, 0, 1, 2, 3, 4, 5))
	f.Add(packet(pgproto3.ProtocolVersion32, 'u', 's', 'e', 'r', 0, 'x', 0, 0))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Add([]byte{0, 0, 0, 8})
	f.Add([]byte{0x7f, 0xff, 0xff, 0xff, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		st, err := readStartup(r)
		read := len(in) - r.Len()
		if len(in) >= 4 {
			n := int(binary.BigEndian.Uint32(in))
			if bad := n < minStartupPacket || n > maxStartupPacket; bad && read != 4 || !bad && read > n {
				t.Fatalf("read %d bytes of a packet declaring %d; want 4 for a bad length, else at most the packet", read, n)
			}
		}
		if err != nil {
			if st.msg != nil {
				t.Fatalf("readStartup(%q) returned a message with error %v", in, err)
			}
			return
		}
		if !bytes.Equal(st.raw, in[:read]) {
			t.Fatalf("raw %q is not the %d bytes read", st.raw, read)
		}
		switch m := st.msg.(type) {
		case *pgproto3.StartupMessage:
			again, err := m.Encode(nil)
			if err != nil {
				t.Fatalf("re-encode %#v: %v", m, err)
			}
			st2, err := readStartup(bytes.NewReader(again))
			if err != nil || !maps.Equal(st2.msg.(*pgproto3.StartupMessage).Parameters, m.Parameters) {
				t.Fatalf("re-encoded startup %q reads back as %#v, %v", again, st2.msg, err)
			}
		case *pgproto3.CancelRequest:
			if len(m.SecretKey) > 256 {
				t.Fatalf("cancel key of %d bytes", len(m.SecretKey))
			}
		case *pgproto3.SSLRequest, *pgproto3.GSSEncRequest:
		default:
			t.Fatalf("unexpected message %T", m)
		}
	})
}
