package edge

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// builtin is a handler the edge serves itself under a path prefix, on
// every host (Options.Builtins): a part of tandem, not an app.
type builtin struct {
	prefix  string // starts and ends with "/"
	label   string // the route label in the access log and metrics
	handler http.Handler
}

// builtins are matched longest prefix first.
type builtins []builtin

func newBuiltins(m map[string]http.Handler) (builtins, error) {
	var out builtins
	for prefix, h := range m {
		if len(prefix) < 2 || !strings.HasPrefix(prefix, "/") || !strings.HasSuffix(prefix, "/") || h == nil {
			return nil, fmt.Errorf("built-in path %q: must start and end with / (and not be / alone), with a handler", prefix)
		}
		out = append(out, builtin{prefix: prefix, label: "builtin:" + prefix, handler: h})
	}
	slices.SortFunc(out, func(a, b builtin) int { return len(b.prefix) - len(a.prefix) })
	return out, nil
}

// match returns the built-in that serves path, or nil.
func (bs builtins) match(path string) *builtin {
	for i := range bs {
		b := &bs[i]
		if strings.HasPrefix(path, b.prefix) || path == b.prefix[:len(b.prefix)-1] {
			return b
		}
	}
	return nil
}
