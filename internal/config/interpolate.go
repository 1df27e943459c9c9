package config

import (
	"fmt"
	"strings"
)

// expand replaces ${VAR} and ${VAR:-default} in s using lookup, and $$ with a
// literal $. ${VAR:-default} uses default when VAR is unset or empty, as in
// the shell. A default is taken literally up to the first "}". Any other "$"
// is an error, so that a forgotten brace ($HOME) does not pass silently.
// Expanded text is never scanned again: a value cannot inject a reference.
// The second result reports whether anything was substituted.
func expand(s string, lookup func(string) (string, bool)) (string, bool, error) {
	if !strings.Contains(s, "$") {
		return s, false, nil
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '$')
		if i < 0 {
			b.WriteString(s)
			return b.String(), true, nil
		}
		b.WriteString(s[:i])
		s = s[i:]
		switch {
		case strings.HasPrefix(s, "$$"):
			b.WriteByte('$')
			s = s[2:]
		case strings.HasPrefix(s, "${"):
			end := strings.IndexByte(s, '}')
			if end < 0 {
				return "", false, fmt.Errorf("unterminated %q: close it with }", s)
			}
			val, err := lookupRef(s[2:end], lookup)
			if err != nil {
				return "", false, err
			}
			b.WriteString(val)
			s = s[end+1:]
		default:
			return "", false, fmt.Errorf("stray \"$\" in %q: write ${VAR} for a variable or $$ for a literal $", s)
		}
	}
}

// lookupRef resolves the inside of ${...}: "VAR" or "VAR:-default".
func lookupRef(ref string, lookup func(string) (string, bool)) (string, error) {
	name, def, hasDef := strings.Cut(ref, ":-")
	if !validVarName(name) {
		return "", fmt.Errorf("invalid variable name %q in ${%s}: use letters, digits and _", name, ref)
	}
	var v string
	var ok bool
	if lookup != nil {
		v, ok = lookup(name)
	}
	switch {
	case hasDef && v == "":
		return def, nil
	case !ok:
		return "", fmt.Errorf("environment variable %s is not set (write ${%s:-default} to give a default)", name, name)
	}
	return v, nil
}

// validVarName reports whether s is [A-Za-z_][A-Za-z0-9_]*.
func validVarName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
