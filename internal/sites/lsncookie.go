package sites

import (
	"fmt"
	"net/http"
	"time"

	"github.com/tandem-run/tandem/internal/pgha"
)

// LSNCookie is the cookie a follower site's edge sets on the response to
// a write it forwarded to the leader site: the leader's WAL position just
// after the write, in PostgreSQL's text form ("16/B374D848"). A read
// carrying it is served by the follower site only once the site's standby
// has replayed that far.
//
// It is not signed: it steers only its bearer's own reads, and a forged
// one can make them slower (served from the leader site) or staler (as
// without it), nothing else.
const LSNCookie = "tandem-lsn"

// unknownLSN is what the cookie holds when the leader's position after a
// write could not be read: beyond any standby, so that its bearer reads
// from the leader site while it lasts (unknownLSNAge).
const unknownLSN = pgha.LSN(1<<64 - 1)

// unknownLSNAge is how long a cookie holding unknownLSN lasts.
const unknownLSNAge = time.Minute

// ParseLSNCookie returns the position in r's LSNCookie; ok is false when
// r has none, or none that parses (then the request reads as if it had
// none). Of several, the furthest counts.
func ParseLSNCookie(r *http.Request) (lsn pgha.LSN, ok bool) {
	for _, c := range r.CookiesNamed(LSNCookie) {
		v, err := pgha.ParseLSN(c.Value)
		if err == nil && v != 0 && (!ok || v > lsn) {
			lsn, ok = v, true
		}
	}
	return lsn, ok
}

// lsnCookie is the Set-Cookie for a write's position: a session cookie
// for the whole site, or one that lasts unknownLSNAge for unknownLSN.
// secure marks it for HTTPS only.
func lsnCookie(lsn pgha.LSN, secure bool) *http.Cookie {
	c := &http.Cookie{Name: LSNCookie, Value: lsn.String(), Path: "/", HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode}
	if lsn == unknownLSN {
		c.MaxAge = int(unknownLSNAge / time.Second)
	}
	return c
}

// setLSNCookie adds the cookie for lsn to resp.
func setLSNCookie(resp *http.Response, lsn pgha.LSN, secure bool) error {
	c := lsnCookie(lsn, secure)
	if err := c.Valid(); err != nil {
		return fmt.Errorf("set %s cookie: %w", LSNCookie, err)
	}
	resp.Header.Add("Set-Cookie", c.String())
	return nil
}
