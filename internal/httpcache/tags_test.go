package httpcache

import (
	"slices"
	"testing"
)

// TestParseTagsStrings: a Cache-Groups field is a Structured Fields List
// of Strings (RFC 9875); anything else is ignored whole.
func TestParseTagsStrings(t *testing.T) {
	tests := []struct {
		lines []string
		want  []string
	}{
		{[]string{`"a", "b";p=1`}, []string{"a", "b"}},
		{[]string{`"a"`, `"b", "a"`}, []string{"a", "b"}},
		{[]string{`"a\"b"`}, []string{`a"b`}},
		{[]string{`"a", b`}, nil},    // a Token
		{[]string{`"a",`}, nil},      // trailing comma
		{[]string{`"a" "b"`}, nil},   // no comma
		{[]string{`"a";P=1`}, nil},   // upper-case parameter key
		{[]string{`("a" "b")`}, nil}, // an Inner List
		{[]string{`"é"`}, nil},       // not ASCII
	}
	for _, tt := range tests {
		if got := ParseTags(TagsStrings, tt.lines); !slices.Equal(got, tt.want) {
			t.Errorf("ParseTags(strings, %q) = %q; want %q", tt.lines, got, tt.want)
		}
	}
}
