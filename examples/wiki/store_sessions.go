package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// Session is a logged-in user. Token is the cookie value and is known only
// when the session is created; the database keeps its hash.
type Session struct {
	Token    string
	Username string
	CSRF     string
	Expires  time.Time
}

// randomToken returns 32 random bytes, URL-safe base64.
func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never returns an error; crashes the program if it could
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// CreateSession starts a session for username lasting ttl, and drops
// sessions that have expired. Retried, it inserts the same session again,
// which changes nothing if the first try committed.
func (s *Store) CreateSession(ctx context.Context, username string, ttl time.Duration) (Session, error) {
	now := time.Now()
	sess := Session{Token: randomToken(), Username: username, CSRF: randomToken(),
		Expires: now.Add(ttl).UTC().Truncate(time.Second)}
	err := s.retry(ctx, func(ctx context.Context) error {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, s.q("DELETE FROM sessions WHERE expires_at <= ?"), now.Unix()); err != nil {
			return fmt.Errorf("expire old: %w", err)
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO sessions (token_hash, username, csrf, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT (token_hash) DO NOTHING`),
			hashToken(sess.Token), username, sess.CSRF, now.Unix(), sess.Expires.Unix()); err != nil {
			return err
		}
		return tx.Commit()
	})
	if err != nil {
		return Session{}, fmt.Errorf("create session: %w", err)
	}
	return sess, nil
}

// Session returns the live session whose cookie value is token, or
// ErrNotFound.
func (s *Store) Session(ctx context.Context, token string) (Session, error) {
	sess := Session{Token: token}
	var expires int64
	err := s.retry(ctx, func(ctx context.Context) error {
		return s.db.QueryRowContext(ctx, s.q(`SELECT username, csrf, expires_at FROM sessions
			WHERE token_hash = ? AND expires_at > ?`), hashToken(token), time.Now().Unix()).
			Scan(&sess.Username, &sess.CSRF, &expires)
	})
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Session{}, fmt.Errorf("read session: %w", err)
	}
	sess.Expires = time.Unix(expires, 0).UTC()
	return sess, nil
}

// DeleteSession ends the session whose cookie value is token. Ending a
// session that does not exist is not an error.
func (s *Store) DeleteSession(ctx context.Context, token string) error {
	err := s.retry(ctx, func(ctx context.Context) error {
		_, err := s.db.ExecContext(ctx, s.q("DELETE FROM sessions WHERE token_hash = ?"), hashToken(token))
		return err
	})
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}
