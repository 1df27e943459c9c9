package config

import (
	"fmt"
	"reflect"
	"strings"
)

// suggestField returns a hint for an unknown key in a struct of type t:
// ` (did you mean "health"?)` for a near miss, ` (did you mean
// "health.interval"?)` for a field of a nested section, or a list of the
// known fields.
func (d *decoder) suggestField(t reflect.Type, key string) string {
	fs := d.fieldsOf(t)
	if best := closest(key, fs.names); best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	for _, name := range fs.names {
		ft := t.Field(fs.index[name]).Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() != reflect.Struct {
			continue
		}
		if _, ok := d.fieldsOf(ft).index[key]; ok {
			return fmt.Sprintf(" (did you mean %q?)", name+"."+key)
		}
	}
	return fmt.Sprintf(" (known fields: %s)", strings.Join(fs.names, ", "))
}

// closest returns the candidate nearest to s by edit distance, ignoring case
// and treating "-" like "_", or "" when none is close enough to be a typo.
func closest(s string, candidates []string) string {
	norm := func(x string) string { return strings.ReplaceAll(strings.ToLower(x), "-", "_") }
	ns := norm(s)
	if len(ns) > 64 {
		return ""
	}
	best, bestDist := "", 2+len([]rune(ns))/4
	for _, c := range candidates {
		if dist := editDistance(ns, norm(c)); dist < bestDist || dist == 0 {
			best, bestDist = c, dist
		}
	}
	return best
}

// editDistance is the number of single-rune insertions, deletions,
// substitutions and swaps of neighbours that turn a into b (the optimal
// string alignment distance), so "wbe" is 1 away from "web".
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	rows := [3][]int{make([]int, len(rb)+1), make([]int, len(rb)+1), make([]int, len(rb)+1)}
	for j := range rows[1] {
		rows[1][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		pp, prev, cur := rows[0], rows[1], rows[2]
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], pp[j-2]+1)
			}
		}
		rows[0], rows[1], rows[2] = prev, cur, pp
	}
	return rows[1][len(rb)]
}
