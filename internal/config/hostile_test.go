package config

import (
	"fmt"
	"strings"
	"testing"
)

// TestParseHostile feeds files built to exhaust memory or time and checks
// that each is refused quickly with a message.
func TestParseHostile(t *testing.T) {
	tests := []struct {
		name string
		src  func() string
		want string
	}{
		{"too large", func() string { return base + "# " + strings.Repeat("x", MaxFileSize) }, "larger than 1048576 bytes"},
		{"merge bomb", mergeBomb, "expands to more than"},
		{"alias fan-out", aliasFanOut, "expands to more than"},
		{"list bomb", listBomb, "expected a string, got a list"},
		{"deep nesting", func() string { return strings.Repeat("[", 20000) + strings.Repeat("]", 20000) }, "exceeded max depth"},
		{"deep nesting in a field", func() string {
			return base + "    release: " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "\n"
		}, "expected a string, got a list"},
		{"merge chain", mergeChain, "nested more than 32 deep"},
		{"many unknown fields", func() string {
			var b strings.Builder
			b.WriteString(base)
			for i := 0; b.Len() < 64<<10; i++ {
				fmt.Fprintf(&b, "    f%d: 1\n", i)
			}
			return b.String()
		}, "too many problems"},
		{"huge scalar", func() string {
			return base + "    env: { A: \"" + strings.Repeat("$$", MaxFileSize/2-100) + "\" }\n    helth: 1\n"
		}, "unknown field"},
		{"long unknown key", func() string { return base + "    " + strings.Repeat("k", 1000) + ": 1\n" }, "unknown field (known fields"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, tt.src())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				msg := fmt.Sprint(err)
				if len(msg) > 2000 {
					msg = msg[:2000] + "..."
				}
				t.Errorf("Parse = %s; want a problem containing %q", msg, tt.want)
			}
			problems(t, err)
		})
	}
}

// mergeBomb merges each level nine times into the next: 9^12 keys when
// expanded naively.
func mergeBomb() string {
	var b strings.Builder
	b.WriteString("x0: &l0 { path: /, rise: 1 }\n")
	for i := 1; i <= 12; i++ {
		fmt.Fprintf(&b, "x%d: &l%d { <<: [%s] }\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 9), ", "))
	}
	b.WriteString(base + "    health: *l12\n")
	return b.String()
}

// aliasFanOut defines one app with a large env and then many apps that
// alias it.
func aliasFanOut() string {
	var b strings.Builder
	b.WriteString("cluster: { node: n }\napps:\n  a0: &a { command: [x], env: {")
	for i := range 2000 {
		fmt.Fprintf(&b, " K%d: v,", i)
	}
	b.WriteString(" Z: v } }\n")
	for i := 1; i < 20000; i++ {
		fmt.Fprintf(&b, "  a%d: *a\n", i)
	}
	return b.String()
}

// listBomb is the classic billion laughs, aimed at a list field.
func listBomb() string {
	var b strings.Builder
	b.WriteString("x0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "x%d: &l%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 9), ", "))
	}
	b.WriteString(base + "    release: *l9\n")
	return b.String()
}

// mergeChain merges each level into the next, 40 levels deep.
func mergeChain() string {
	var b strings.Builder
	b.WriteString("x0: &l0 { path: / }\n")
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&b, "x%d: &l%d { <<: *l%d }\n", i, i, i-1)
	}
	b.WriteString(base + "    health: *l40\n")
	return b.String()
}
