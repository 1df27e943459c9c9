package uptime

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// mailServer is a small SMTP server on loopback that accepts every mail
// and keeps the conversation.
type mailServer struct {
	t     *testing.T
	ln    net.Listener
	tls   *tls.Config // offers STARTTLS when set
	wg    sync.WaitGroup
	mu    sync.Mutex // guards the fields below
	cmds  []string   // commands received, AUTH's argument decoded
	data  []string   // message bodies
	inTLS bool       // the last mail came over TLS
}

func newMailServer(t *testing.T, cfg *tls.Config) *mailServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &mailServer{t: t, ln: ln, tls: cfg}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Go(func() { s.serve(c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *mailServer) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *mailServer) serve(c net.Conn) {
	defer func() { c.Close() }()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r, secure := bufio.NewReader(c), false
	say := func(line string) { c.Write([]byte(line + "\r\n")) }
	say("220 mail.test ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(strings.Fields(cmd + " x")[0])
		if verb == "AUTH" {
			f := strings.Fields(cmd)
			dec, _ := base64.StdEncoding.DecodeString(f[len(f)-1])
			cmd = strings.Join(f[:len(f)-1], " ") + " " + strings.ReplaceAll(string(dec), "\x00", "|")
		}
		s.mu.Lock()
		s.cmds = append(s.cmds, cmd)
		s.mu.Unlock()
		switch verb {
		case "EHLO":
			if s.tls != nil && !secure {
				say("250-mail.test\r\n250-STARTTLS\r\n250 AUTH PLAIN")
			} else {
				say("250-mail.test\r\n250 AUTH PLAIN")
			}
		case "STARTTLS":
			say("220 go ahead")
			tc := tls.Server(c, s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			c, r, secure = tc, bufio.NewReader(tc), true
		case "AUTH":
			say("235 ok")
		case "DATA":
			say("354 go on")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(l)
			}
			s.mu.Lock()
			s.data, s.inTLS = append(s.data, b.String()), secure
			s.mu.Unlock()
			say("250 queued")
		case "QUIT":
			say("221 bye")
			return
		default:
			say("250 ok")
		}
	}
}

func (s *mailServer) got() (cmds, data []string, inTLS bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.cmds...), append([]string(nil), s.data...), s.inTLS
}

func TestSMTPPlain(t *testing.T) {
	srv := newMailServer(t, nil)
	at := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	s, err := NewSMTP(SMTPOptions{Host: "127.0.0.1", Port: srv.port(), From: "tandem <tandem@example.org>",
		To: []string{"ops@example.org", "Oncall <oncall@example.org>"}, Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Notify(t.Context(), testNotice()); err != nil {
		t.Fatalf("Notify() = %v", err)
	}
	cmds, data, _ := srv.got()
	want := []string{"EHLO localhost", "MAIL FROM:<tandem@example.org>", "RCPT TO:<ops@example.org>", "RCPT TO:<oncall@example.org>", "DATA", "QUIT"}
	if strings.Join(cmds, "\n") != strings.Join(want, "\n") {
		t.Errorf("commands = %q; want %q", cmds, want)
	}
	if len(data) != 1 {
		t.Fatalf("got %d mails; want 1", len(data))
	}
	for _, w := range []string{
		"From: \"tandem\" <tandem@example.org>\r\n",
		"To: <ops@example.org>, \"Oncall\" <oncall@example.org>\r\n",
		"Subject: [tandem] home is DOWN\r\n",
		"Date: Tue, 04 Mar 2025 05:06:07 +0000\r\n",
		"Content-Type: text/plain; charset=utf-8\r\n",
		"\r\n\r\nhome is DOWN: 1 of 2 nodes see it failing (https://example.org/): n1: status 503, want 200-399\r\n",
		"  n1: down at 2025-03-04T05:06:07Z (status 503, want 200-399)\r\n  n2: up at 2025-03-04T05:06:07Z\r\n",
	} {
		if !strings.Contains(data[0], w) {
			t.Errorf("mail lacks %q:\n%s", w, data[0])
		}
	}
}

func TestSMTPStartTLSAndAuth(t *testing.T) {
	cert, roots := selfSigned(t)
	srv := newMailServer(t, &tls.Config{Certificates: []tls.Certificate{cert}})
	s, err := NewSMTP(SMTPOptions{Host: "127.0.0.1", Port: srv.port(), From: "tandem@example.org", To: []string{"ops@example.org"},
		Username: "tandem", Password: "pw", StartTLS: true, TLSConfig: &tls.Config{ServerName: "127.0.0.1", RootCAs: roots}})
	if err != nil {
		t.Fatal(err)
	}
	still := testNotice()
	still.Previous = Down
	if err := s.Notify(t.Context(), still); err != nil {
		t.Fatalf("Notify() = %v", err)
	}
	cmds, data, inTLS := srv.got()
	if len(cmds) < 4 || cmds[1] != "STARTTLS" || cmds[3] != "AUTH PLAIN |tandem|pw" || !inTLS {
		t.Errorf("commands = %q, mail over TLS %v; want EHLO, STARTTLS, EHLO, AUTH PLAIN, all after TLS", cmds, inTLS)
	}
	if len(data) != 1 || !strings.Contains(data[0], "Subject: [tandem] home is still DOWN\r\n") {
		t.Errorf("mails = %q; want one \"still DOWN\"", data)
	}

	// The server's certificate is checked: without its root, no mail.
	s2, _ := NewSMTP(SMTPOptions{Host: "127.0.0.1", Port: srv.port(), From: "tandem@example.org", To: []string{"ops@example.org"}, StartTLS: true})
	if err := s2.Notify(t.Context(), still); err == nil || !strings.Contains(err.Error(), "starttls") {
		t.Errorf("Notify() to an unknown certificate = %v; want a starttls error", err)
	}
}

func TestSMTPRefusesWithoutStartTLS(t *testing.T) {
	srv := newMailServer(t, nil)
	s, err := NewSMTP(SMTPOptions{Host: "127.0.0.1", Port: srv.port(), From: "a@example.org", To: []string{"b@example.org"}, StartTLS: true})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Notify(t.Context(), testNotice())
	if err == nil || !strings.Contains(err.Error(), "does not offer STARTTLS") || !strings.Contains(err.Error(), "smtp 127.0.0.1:") {
		t.Errorf("Notify() = %v; want \"smtp 127.0.0.1:port: server does not offer STARTTLS\"", err)
	}
	if _, data, _ := srv.got(); len(data) != 0 {
		t.Errorf("a mail was sent in the clear: %q", data)
	}
}

func TestNewSMTPRefuses(t *testing.T) {
	for _, o := range []SMTPOptions{
		{From: "a@b.c", To: []string{"d@e.f"}},
		{Host: "m", From: "nobody", To: []string{"d@e.f"}},
		{Host: "m", From: "a@b.c"},
		{Host: "m", From: "a@b.c", To: []string{"x"}},
	} {
		if _, err := NewSMTP(o); err == nil {
			t.Errorf("NewSMTP(%+v) = nil error; want one", o)
		}
	}
}

// selfSigned returns a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
