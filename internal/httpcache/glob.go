package httpcache

import (
	"strings"
	"unicode/utf8"
)

// glob is a case-insensitive pattern over names: '*' matches any run of
// characters, '?' exactly one, everything else itself. It is used for
// query parameter and cookie names (utm_*, wordpress_logged_in_*,
// *session*).
type glob string

// globs is a list of patterns; a name matches when any pattern does.
type globs []glob

func newGlobs(patterns []string) globs {
	g := make(globs, 0, len(patterns))
	for _, p := range patterns {
		g = append(g, glob(strings.ToLower(p)))
	}
	return g
}

func (gs globs) match(name string) bool {
	if len(gs) == 0 {
		return false
	}
	name = strings.ToLower(name)
	for _, g := range gs {
		if g.match(name) {
			return true
		}
	}
	return false
}

// match reports whether the lowercased name matches. It runs in
// O(len(pattern)*len(name)) at worst, with the usual star backtracking.
func (g glob) match(name string) bool {
	p := string(g)
	px, nx := 0, 0
	starPx, starNx := -1, 0
	for px < len(p) || nx < len(name) {
		if px < len(p) {
			switch c := p[px]; c {
			case '*':
				starPx, starNx = px, nx
				px++
				continue
			case '?':
				if nx < len(name) {
					_, w := utf8.DecodeRuneInString(name[nx:])
					px++
					nx += w
					continue
				}
			default:
				if nx < len(name) && name[nx] == c {
					px++
					nx++
					continue
				}
			}
		}
		if starPx >= 0 && starNx < len(name) {
			_, w := utf8.DecodeRuneInString(name[starNx:])
			starNx += w
			px, nx = starPx+1, starNx
			continue
		}
		return false
	}
	return true
}
