package edge

import (
	"fmt"
	"html"
	"net/http"
	"strings"
)

// errorText says, for each status the edge produces itself, what happened
// in words a visitor and an operator can both use.
var errorText = map[int]string{
	http.StatusBadRequest:            "The request is malformed.",
	http.StatusRequestTimeout:        "The request's body did not arrive in time.",
	http.StatusInsufficientStorage:   "There is no room to hold this request's body right now. Please try again shortly.",
	http.StatusNotFound:              "No site is configured for this address.",
	http.StatusForbidden:             "This client may not purge the cache.",
	http.StatusMethodNotAllowed:      "This edge does not accept cache purges.",
	http.StatusRequestEntityTooLarge: "The request body is larger than this site accepts.",
	http.StatusBadGateway:            "The application failed to answer this request.",
	http.StatusServiceUnavailable:    "No instance of the application is available right now. Please try again shortly.",
	http.StatusGatewayTimeout:        "The application took too long to answer.",
}

// writeError writes the edge's own error response: HTML for browsers,
// plain text otherwise, always with the request id so a report can be
// matched to the access log.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, status int) {
	s.writeErrorText(w, r, status, "")
}

// writeErrorText is writeError saying text ("" for the status's usual
// text).
func (s *Server) writeErrorText(w http.ResponseWriter, r *http.Request, status int, text string) {
	id := w.Header().Get(requestIDHeader)
	if text == "" {
		text = errorText[status]
	}
	if text == "" {
		text = http.StatusText(status)
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	switch status {
	case http.StatusServiceUnavailable, http.StatusInsufficientStorage:
		h.Set("Retry-After", "5")
	}
	switch status {
	case http.StatusBadRequest, http.StatusRequestTimeout, http.StatusRequestEntityTooLarge, http.StatusInsufficientStorage:
		// The rest of the body, if any, is not read: the connection
		// cannot carry another request.
		h.Set("Connection", "close")
	}
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		h.Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		fmt.Fprintf(w, errorHTML, status, http.StatusText(status), status, http.StatusText(status), html.EscapeString(text), html.EscapeString(id))
		return
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "%d %s\n%s\nrequest id: %s\n", status, http.StatusText(status), text, id)
}

const errorHTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>%d %s</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:36em;margin:4em auto;padding:0 1em;color:#222}
h1{font-size:1.4em}small{color:#777}</style></head>
<body><h1>%d %s</h1><p>%s</p><p><small>request id %s · tandem</small></p></body></html>
`
