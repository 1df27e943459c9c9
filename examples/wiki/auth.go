package main

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
	"time"
)

const (
	sessionCookie = "wiki_session"
	sessionTTL    = 30 * 24 * time.Hour
)

var (
	errLoginRequired = withStatus(http.StatusForbidden, errors.New("log in first"))
	errBadCSRF       = withStatus(http.StatusForbidden, errors.New("the form has expired or did not come from this wiki; reload it and try again"))
)

// hasSessionCookie reports whether the request carries a session cookie,
// valid or not. It decides whether a response may be cached publicly.
func hasSessionCookie(r *http.Request) bool {
	_, err := r.Cookie(sessionCookie)
	return err == nil
}

// session returns the request's session, or the zero Session for an
// anonymous request. A cookie naming no live session is cleared.
func (a *App) session(w http.ResponseWriter, r *http.Request) (Session, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return Session{}, nil
	}
	if len(c.Value) <= 100 {
		sess, err := a.store.Session(r.Context(), c.Value)
		if err == nil {
			return sess, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return Session{}, err
		}
	}
	clearSessionCookie(w, r)
	return Session{}, nil
}

// postForm reads a form of at most limit bytes and returns the session it
// was posted in, refusing anonymous posts and a missing or wrong CSRF token.
func (a *App) postForm(w http.ResponseWriter, r *http.Request, limit int64) (Session, error) {
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	sess, err := a.session(w, r)
	if err != nil {
		return Session{}, err
	}
	if sess.Username == "" {
		return Session{}, errLoginRequired
	}
	if err := r.ParseForm(); err != nil {
		return Session{}, badForm(err)
	}
	if !checkCSRF(sess, r.PostForm.Get("csrf")) {
		return Session{}, errBadCSRF
	}
	return sess, nil
}

func checkCSRF(sess Session, token string) bool {
	return sess.CSRF != "" && subtle.ConstantTimeCompare([]byte(sess.CSRF), []byte(token)) == 1
}

// badForm maps a form parsing error: too large (413, recognised by
// fail) or malformed (400).
func badForm(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return err
	}
	return withStatus(http.StatusBadRequest, errors.New("the form could not be read"))
}

type loginData struct{ Next, Error string }

func (a *App) loginForm(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", cachePrivate)
	sess, err := a.session(w, r)
	if err != nil {
		return err
	}
	data := loginData{Next: localPath(r.URL.Query().Get("next"))}
	return a.render(w, http.StatusOK, "login.html", a.newView(r, sess, "Log in", data))
}

func (a *App) login(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", cachePrivate)
	r.Body = http.MaxBytesReader(w, r.Body, maxSmallForm)
	if err := r.ParseForm(); err != nil {
		return badForm(err)
	}
	data := loginData{Next: localPath(r.PostForm.Get("next"))}
	username := strings.TrimSpace(r.PostForm.Get("username"))
	if err := checkUsername(username); err != nil {
		data.Error = err.Error()
		return a.render(w, http.StatusBadRequest, "login.html", a.newView(r, Session{}, "Log in", data))
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		// A new login replaces the old session rather than leave it live.
		if err := a.store.DeleteSession(r.Context(), c.Value); err != nil {
			return err
		}
	}
	sess, err := a.store.CreateSession(r.Context(), username, sessionTTL)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: sess.Token, Path: "/", MaxAge: int(sessionTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: isHTTPS(r),
	})
	a.log.Info("logged in", "user", username)
	http.Redirect(w, r, data.Next, http.StatusSeeOther)
	return nil
}

func (a *App) logout(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", cachePrivate)
	sess, err := a.postForm(w, r, maxSmallForm)
	if errors.Is(err, errLoginRequired) {
		// Already logged out (or the session expired): nothing to end.
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return nil
	}
	if err != nil {
		return err
	}
	if err := a.store.DeleteSession(r.Context(), sess.Token); err != nil {
		return err
	}
	clearSessionCookie(w, r)
	http.Redirect(w, r, "/", http.StatusSeeOther)
	return nil
}

func clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: isHTTPS(r)})
}

// isHTTPS reports whether the client reached us over HTTPS, directly or
// through the edge. Trusting a client's X-Forwarded-Proto here is harmless:
// it only decides the cookie's Secure flag, for that client.
func isHTTPS(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// localPath returns next if it is a path on this site, else "/": a login
// link must not become an open redirect ("//evil.example", "/\evil").
func localPath(next string) string {
	if len(next) > 2000 || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.HasPrefix(next, `/\`) || strings.ContainsFunc(next, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return "/"
	}
	return next
}
