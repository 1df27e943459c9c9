package uptime

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"strconv"
	"strings"
	"time"
)

// smtpTimeout bounds one mail's whole conversation by default.
const smtpTimeout = 30 * time.Second

// SMTPOptions configure an SMTP notifier.
type SMTPOptions struct {
	Host string // the mail server
	Port int    // 0 means 587
	From string // the sender, "a@b.example" or "Name <a@b.example>"
	To   []string
	// Username and Password authenticate with AUTH PLAIN; no
	// authentication when Username is "". net/smtp refuses PLAIN over an
	// unencrypted connection except to localhost.
	Username, Password string
	// StartTLS upgrades the connection with STARTTLS; a server that does
	// not offer it is an error.
	StartTLS bool
	// TLSConfig is used for STARTTLS; nil verifies the server's
	// certificate for Host against the system's roots.
	TLSConfig *tls.Config
	// Timeout bounds one mail's conversation; 0 means 30s.
	Timeout time.Duration
	// Now dates the mails; nil means time.Now.
	Now func() time.Time
}

// SMTP is a Notifier that sends each Notice as a plain-text mail.
type SMTP struct {
	opts SMTPOptions
	addr string        // host:port
	from *mail.Address // parsed From
	to   []*mail.Address
}

var _ Notifier = (*SMTP)(nil)

// NewSMTP checks opts. It connects to nothing.
func NewSMTP(opts SMTPOptions) (*SMTP, error) {
	if opts.Host == "" {
		return nil, errors.New("new smtp: no host")
	}
	if opts.Port == 0 {
		opts.Port = 587
	}
	if opts.Timeout <= 0 {
		opts.Timeout = smtpTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &SMTP{opts: opts, addr: net.JoinHostPort(opts.Host, strconv.Itoa(opts.Port))}
	var err error
	if s.from, err = mail.ParseAddress(opts.From); err != nil {
		return nil, fmt.Errorf("new smtp: from: %w", err)
	}
	if len(opts.To) == 0 {
		return nil, errors.New("new smtp: no recipients")
	}
	for _, to := range opts.To {
		a, err := mail.ParseAddress(to)
		if err != nil {
			return nil, fmt.Errorf("new smtp: to %q: %w", to, err)
		}
		s.to = append(s.to, a)
	}
	return s, nil
}

// Notify implements Notifier.
func (s *SMTP) Notify(ctx context.Context, n Notice) error {
	if err := s.send(ctx, s.message(n)); err != nil {
		return fmt.Errorf("smtp %s: %w", s.addr, err)
	}
	return nil
}

// send delivers one message: dial, EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA.
func (s *SMTP) send(ctx context.Context, msg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) }) // cancellation ends blocked I/O
	defer stop()

	c, err := smtp.NewClient(conn, s.opts.Host)
	if err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	defer c.Close()
	if s.opts.StartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return errors.New("server does not offer STARTTLS (set alerts.smtp.starttls: false to send in the clear)")
		}
		cfg := s.opts.TLSConfig
		if cfg == nil {
			cfg = &tls.Config{ServerName: s.opts.Host}
		}
		if err := c.StartTLS(cfg); err != nil {
			return fmt.Errorf("starttls: %w", err)
		}
	}
	if s.opts.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.opts.Username, s.opts.Password, s.opts.Host)); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return fmt.Errorf("mail from: %w", err)
	}
	for _, to := range s.to {
		if err := c.Rcpt(to.Address); err != nil {
			return fmt.Errorf("rcpt to %s: %w", to.Address, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	return c.Quit()
}

// message formats n as a plain-text mail with its headers.
func (s *SMTP) message(n Notice) []byte {
	to := make([]string, len(s.to))
	for i, a := range s.to {
		to[i] = a.String()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\n", s.from)
	fmt.Fprintf(&b, "To: %s\r\n", strings.Join(to, ", "))
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", "[tandem] "+n.Subject()))
	fmt.Fprintf(&b, "Date: %s\r\n", s.opts.Now().Format(time.RFC1123Z))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString(strings.ReplaceAll(n.text(), "\n", "\r\n"))
	return []byte(b.String())
}
