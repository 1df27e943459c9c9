package main

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// statusError is an error that says which HTTP status it deserves; its
// message is meant for the person who sent the request.
type statusError struct {
	status int
	err    error
}

func withStatus(status int, err error) error { return &statusError{status: status, err: err} }

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

// handle adapts a handler that returns an error; fail is the one place
// where errors become HTTP statuses.
func (a *App) handle(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			a.fail(w, r, err)
		}
	})
}

// fail answers with an error page. Only 500s are logged: the others are
// the client's doing and are told to the client.
func (a *App) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := http.StatusInternalServerError, "Something went wrong on our side; it has been logged."
	var se *statusError
	var tooBig *http.MaxBytesError
	var bad error
	switch {
	case errors.As(err, &se):
		status, msg = se.status, se.Error()
		if sf := (*storeFailure)(nil); errors.As(err, &sf) {
			a.log.Warn("file store failed", "method", r.Method, "path", r.URL.Path, "err", sf.cause)
		}
	case errors.As(err, &tooBig):
		status, msg = http.StatusRequestEntityTooLarge, "The request is too large."
	case errors.Is(err, ErrNotFound):
		status, msg = http.StatusNotFound, "There is nothing here."
	case errors.Is(err, ErrExists):
		status, msg = http.StatusConflict, "That name is taken; choose another."
	case errors.Is(err, errBadTitle):
		bad = errBadTitle
	case errors.Is(err, errBadUsername):
		bad = errBadUsername
	case errors.Is(err, errBadFileName):
		bad = errBadFileName
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		return // the client hung up; nobody is listening
	default:
		a.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if bad != nil {
		status, msg = http.StatusBadRequest, bad.Error()
	}

	// An error page is never cached: the next request may well succeed.
	h := w.Header()
	for _, k := range []string{"ETag", "Last-Modified", "Surrogate-Key", "Vary", "Content-Disposition"} {
		h.Del(k)
	}
	h.Set("Cache-Control", "no-store")
	v := view{Title: http.StatusText(status), Instance: a.instance, Rendered: time.Now(), Data: sentence(msg), Path: "/"}
	if rerr := a.render(w, status, "error.html", v); rerr != nil {
		a.log.Error("render error page", "err", rerr)
		http.Error(w, msg, status)
	}
}

// sentence capitalises msg and ends it with a full stop: error strings are
// lowercase by Go convention, error pages are read by people.
func sentence(msg string) string {
	r, n := utf8.DecodeRuneInString(msg)
	msg = string(unicode.ToUpper(r)) + msg[n:]
	if !strings.HasSuffix(msg, ".") {
		msg += "."
	}
	return msg
}
