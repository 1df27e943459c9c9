package apprun

import "errors"

// The kinds of errors of an App's operations; each error wraps one, so
// that an API maps them to its statuses (errors.Is), and says in words
// what happened. An error that wraps none of them is an internal failure.
var (
	// ErrNotFound: no such app, or no such kept release.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the request conflicts with the app's state: a deploy
	// is in progress, the release exists or is current already, the app
	// has not started or is in maintenance.
	ErrConflict = errors.New("conflicts with the app's state")
	// ErrInvalid: the request is malformed (an empty command, a bad
	// version label, a negative duration).
	ErrInvalid = errors.New("invalid request")
	// ErrStopping: the node is stopping and starts no more work.
	ErrStopping = errors.New("the node is stopping")
)
