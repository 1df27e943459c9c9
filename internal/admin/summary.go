package admin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
)

// summaryBodyLimit is the largest request body summarize reads; larger
// bodies go unsummarised (the handler still gets all of it).
const summaryBodyLimit = 64 << 10

// summarize says in a few words what a deploy, rollback, purge, token
// change or upgrade asks for, for the audit log; "" for other calls. It names
// environment keys but never their values, which may be secrets.
func summarize(r *http.Request, pattern string) string {
	var parts []string
	add := func(key, value string) {
		if value != "" {
			parts = append(parts, key+"="+value)
		}
	}
	switch pattern {
	case "POST /v1/apps/{app}/deploy":
		var req DeployRequest
		if !peekJSON(r, &req) {
			return ""
		}
		add("app", appOf(r.URL.Path))
		add("version", req.Version)
		add("who", req.Who)
		if req.Spec != nil {
			add("spec", strings.Join(req.Spec.Command, " "))
		}
		add("command", strings.Join(req.Command, " "))
		add("dir", req.Dir)
		add("set_env", strings.Join(slices.Sorted(maps.Keys(req.SetEnv)), ","))
		add("unset_env", strings.Join(req.UnsetEnv, ","))
		add("release_command", strings.Join(req.ReleaseCommand, " "))
	case "POST /v1/apps/{app}/rollback":
		var req RollbackRequest
		if !peekJSON(r, &req) {
			return ""
		}
		add("app", appOf(r.URL.Path))
		add("version", req.Version)
		add("who", req.Who)
	case "POST /v1/db/switchover":
		var req SwitchoverRequest
		if !peekJSON(r, &req) {
			return ""
		}
		add("to", cmpOr(req.To, "the best standby"))
	case "POST /v1/purge":
		var req PurgeRequest
		if !peekJSON(r, &req) {
			return ""
		}
		add("url", req.URL)
		add("tags", strings.Join(req.Tags, ","))
		add("ban_host", req.BanHost)
		add("ban_path", req.BanPath)
		if req.Soft {
			add("soft", "true")
		}
	case "POST /v1/tokens":
		var req TokenRequest
		if !peekJSON(r, &req) {
			return ""
		}
		add("name", req.Name)
		add("scopes", scopeList(req.Scopes))
		if req.TTL > 0 {
			add("ttl", req.TTL.String())
		}
	case "POST /v1/upgrade":
		var req UpgradeRequest
		if !peekJSON(r, &req) {
			return ""
		}
		add("binary", req.Binary)
		add("who", req.Who)
		if req.Drain > 0 {
			add("drain", req.Drain.String())
		}
	default:
		return ""
	}
	return truncate(strings.Join(parts, " "), 300)
}

// peekJSON decodes r's body into v and leaves the body for the handler
// to read again. It returns false when the body is too large or not JSON
// of v's shape.
func peekJSON(r *http.Request, v any) bool {
	if r.Body == nil {
		return false
	}
	head, err := io.ReadAll(io.LimitReader(r.Body, summaryBodyLimit+1))
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), r.Body), r.Body}
	if err != nil || len(head) > summaryBodyLimit {
		return false
	}
	return json.Unmarshal(head, v) == nil
}

// appOf returns the app of a /v1/apps/{app}/... path: the request is not
// routed yet, so r.PathValue is not set.
func appOf(p string) string {
	rest, ok := strings.CutPrefix(p, "/v1/apps/")
	if !ok {
		return ""
	}
	app, _, _ := strings.Cut(rest, "/")
	return app
}

// truncate cuts s to at most n bytes, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return fmt.Sprintf("%s... (%d bytes)", s[:n], len(s))
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
