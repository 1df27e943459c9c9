package admin

import (
	"fmt"
	"slices"
	"strings"
)

// Scope is what a token may do through the admin API. Scopes nest:
// admin implies every other scope, deploy and purge each imply read.
type Scope string

// The scopes, from least to most powerful.
const (
	ScopeRead   Scope = "read"   // status, history, jobs, metrics
	ScopePurge  Scope = "purge"  // cache purges
	ScopeDeploy Scope = "deploy" // deploys, rollbacks, plans, pauses, maintenance, job runs
	ScopeAdmin  Scope = "admin"  // tokens, the audit log, cluster membership
)

// Valid reports whether s is one of the four scopes.
func (s Scope) Valid() bool {
	switch s {
	case ScopeRead, ScopePurge, ScopeDeploy, ScopeAdmin:
		return true
	}
	return false
}

// implies reports whether holding s is enough for need.
func (s Scope) implies(need Scope) bool {
	switch s {
	case ScopeAdmin:
		return true
	case ScopeDeploy, ScopePurge:
		return need == s || need == ScopeRead
	}
	return need == s
}

// Grants reports whether a token holding have may do what needs need.
func Grants(have []Scope, need Scope) bool {
	for _, s := range have {
		if s.implies(need) {
			return true
		}
	}
	return false
}

// ParseScopes reads a comma-separated list of scopes ("read,deploy"), as
// the CLI's --scope flag takes it. It refuses unknown and empty lists and
// returns each scope once, in a stable order.
func ParseScopes(s string) ([]Scope, error) {
	var out []Scope
	for part := range strings.SplitSeq(s, ",") {
		sc := Scope(strings.TrimSpace(part))
		if sc == "" {
			continue
		}
		if !sc.Valid() {
			return nil, fmt.Errorf("unknown scope %q: use read, purge, deploy or admin", sc)
		}
		out = append(out, sc)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no scope given: use read, purge, deploy or admin")
	}
	return normalScopes(out), nil
}

// normalScopes sorts scopes and drops repeats.
func normalScopes(ss []Scope) []Scope {
	ss = slices.Clone(ss)
	slices.Sort(ss)
	return slices.Compact(ss)
}

// scopeList joins scopes for messages: "deploy,read".
func scopeList(ss []Scope) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = string(s)
	}
	return strings.Join(parts, ",")
}
