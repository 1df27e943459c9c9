package pgha

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgproto3"
)

// The startup phase: the only part of a client's traffic the endpoint
// reads as messages. A client's first packet has no type byte, only a
// length and a code: a StartupMessage (protocol 3.0 or 3.2), or one of the
// special requests SSLRequest, GSSENCRequest and CancelRequest.

// Codes of the special startup packets (PostgreSQL's protocol, §55.7).
const (
	codeCancel = 80877102
	codeSSL    = 80877103
	codeGSSENC = 80877104
)

// maxStartupPacket is PostgreSQL's MAX_STARTUP_PACKET_LENGTH: the server
// refuses larger startup packets, and so does the endpoint, before reading
// them.
const maxStartupPacket = 10000

// minStartupPacket is a length word and a code.
const minStartupPacket = 8

// maxNegotiations bounds the encryption requests answered before a client
// must send its startup message: one SSLRequest and one GSSENCRequest, as
// libpq may send both (GSS first, then SSL).
const maxNegotiations = 2

// errorWriteTimeout bounds writing an ErrorResponse to a client that does
// not read it.
const errorWriteTimeout = time.Second

// ErrBadStartup is wrapped by the errors readStartup returns for a packet
// that is not a PostgreSQL startup packet.
var ErrBadStartup = errors.New("bad startup packet")

// startup is a decoded first packet and its bytes as received.
type startup struct {
	msg pgproto3.FrontendMessage // *StartupMessage, *SSLRequest, *GSSEncRequest or *CancelRequest
	raw []byte                   // the whole packet, length word included
}

// readStartup reads exactly one startup packet from r, never more: what
// follows it belongs to the server. It refuses a length outside
// [minStartupPacket, maxStartupPacket] before reading the body, so a
// hostile client costs at most maxStartupPacket bytes.
func readStartup(r io.Reader) (startup, error) {
	var head [4]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return startup{}, err
	}
	n := binary.BigEndian.Uint32(head[:])
	if n < minStartupPacket || n > maxStartupPacket {
		return startup{}, fmt.Errorf("%w: length %d", ErrBadStartup, int32(n))
	}
	raw := make([]byte, n)
	copy(raw, head[:])
	if _, err := io.ReadFull(r, raw[4:]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return startup{}, err
	}
	msg, err := decodeStartup(raw[4:])
	if err != nil {
		return startup{}, err
	}
	return startup{msg: msg, raw: raw}, nil
}

// decodeStartup decodes a startup packet's body (after the length word).
func decodeStartup(body []byte) (pgproto3.FrontendMessage, error) {
	var msg interface {
		pgproto3.FrontendMessage
		Decode([]byte) error
	}
	switch code := binary.BigEndian.Uint32(body); code {
	case pgproto3.ProtocolVersion30, pgproto3.ProtocolVersion32:
		msg = &pgproto3.StartupMessage{}
	case codeSSL:
		msg = &pgproto3.SSLRequest{}
	case codeGSSENC:
		msg = &pgproto3.GSSEncRequest{}
	case codeCancel:
		msg = &pgproto3.CancelRequest{}
	default:
		return nil, fmt.Errorf("%w: unsupported protocol or request code %d.%d", ErrBadStartup, code>>16, code&0xffff)
	}
	if err := msg.Decode(body); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadStartup, err)
	}
	return msg, nil
}

// readStartupNegotiating reads the client's first packets until one that
// is not an encryption request, answering each encryption request with
// 'N': the endpoint is reached over loopback and speaks plain TCP, and
// clients with sslmode=prefer (the default) then go on in the clear.
func readStartupNegotiating(c net.Conn) (startup, error) {
	for i := 0; ; i++ {
		st, err := readStartup(c)
		if err != nil {
			return startup{}, err
		}
		switch st.msg.(type) {
		case *pgproto3.SSLRequest, *pgproto3.GSSEncRequest:
			if i == maxNegotiations {
				return startup{}, fmt.Errorf("%w: more than %d encryption requests", ErrBadStartup, maxNegotiations)
			}
			if _, err := c.Write([]byte{'N'}); err != nil {
				return startup{}, err
			}
			continue
		}
		return st, nil
	}
}

// SQLSTATEs the endpoint answers with.
const (
	codeCannotConnectNow = "57P03" // cannot_connect_now: no primary (failing over)
	codeTooManyConns     = "53300" // too_many_connections
	codeProtocol         = "08P01" // protocol_violation
)

// writeError sends a FATAL ErrorResponse to a client that has sent its
// startup message (or a bad one) and is waiting for an answer; the caller
// closes the connection next. A client that does not take the answer
// within errorWriteTimeout does not get it: there is nothing else to tell
// it, so the write's error is not reported.
func writeError(c net.Conn, code, message, detail, hint string) {
	msg := &pgproto3.ErrorResponse{
		Severity: "FATAL", SeverityUnlocalized: "FATAL",
		Code: code, Message: message, Detail: detail, Hint: hint,
	}
	buf, err := msg.Encode(nil)
	if err != nil { // only for a field holding NUL, which ours never do
		return
	}
	c.SetWriteDeadline(time.Now().Add(errorWriteTimeout))
	c.Write(buf)
}

// backendKey identifies a server backend for cancel requests: the process
// id and secret key the server sent in BackendKeyData.
type backendKey struct {
	pid    uint32
	secret string
}
