package main

import (
	"errors"
	"html/template"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

var (
	errBadTitle    = errors.New("a title is 1 to 100 letters, digits, spaces and - _ . and has at least one letter or digit")
	errBadUsername = errors.New("a user name is 1 to 40 letters, digits and - _ . and has at least one letter or digit")
	errBadFileName = errors.New("a file name is 1 to 100 of A-Z a-z 0-9 - _ . and does not start with a dot")
)

const (
	maxTitleRunes    = 100
	maxUsernameRunes = 40
	maxFileName      = 100
)

// canonicalTitle checks a page title and returns its one canonical
// spelling, MediaWiki style: spaces become underscores, runs of them
// collapse, and ends are trimmed ("Main page" and "Main__page " are
// "Main_page"). The canonical title is the URL path segment and the
// database key; it never contains a space, so it is also safe inside the
// space-separated Surrogate-Key header.
func canonicalTitle(s string) (string, error) {
	if !validName(s, maxTitleRunes, true) {
		return "", errBadTitle
	}
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "_", " ")), "_"), nil
}

// displayTitle is how a canonical title is shown to people.
func displayTitle(canonical string) string { return strings.ReplaceAll(canonical, "_", " ") }

// titlePath is the URL path of a page, with the title escaped.
func titlePath(canonical string) string { return "/wiki/" + url.PathEscape(canonical) }

func checkUsername(s string) error {
	if !validName(s, maxUsernameRunes, false) {
		return errBadUsername
	}
	return nil
}

// validName reports whether s is at most max runes of letters, marks
// (needed by scripts such as Devanagari), digits, '-', '_', '.', and
// spaces if allowed, with at least one letter or digit. Invalid UTF-8 is
// refused: utf8.RuneError is none of those.
func validName(s string, max int, spaces bool) bool {
	if s == "" || len(s) > 4*max || utf8.RuneCountInString(s) > max {
		return false
	}
	alnum := false
	for _, r := range s {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			alnum = true
		case unicode.IsMark(r) || r == '-' || r == '_' || r == '.' || (spaces && r == ' '):
		default:
			return false
		}
	}
	return alnum
}

// safeFileName turns the name a browser sent for an upload into a name the
// wiki serves it under: the last path element (browsers on Windows may send
// C:\dir\x.png), every byte outside A-Z a-z 0-9 - _ . replaced by '_', and
// leading dots removed so there are no hidden files and no "..".
func safeFileName(raw string) (string, error) {
	if i := strings.LastIndexAny(raw, `/\`); i >= 0 {
		raw = raw[i+1:]
	}
	b := []byte(raw)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	name := strings.TrimLeft(string(b), ".")
	if name == "" || len(name) > maxFileName || strings.Trim(name, "._-") == "" {
		return "", errBadFileName
	}
	return name, nil
}

// validFileName reports whether name is exactly what safeFileName makes.
func validFileName(name string) bool {
	safe, err := safeFileName(name)
	return err == nil && safe == name
}

// render turns page source into HTML. The markup is deliberately small:
//
//	# Heading, ## Subheading, ### Subsubheading  (one line each)
//	- item or * item                              (a bulleted list)
//	[[Page title]] or [[Page title|label]]        (a link to a page)
//	[[File:name.png]] or [[File:name.png|label]]  (a link to an upload)
//
// Blank lines separate paragraphs. Everything else is text, HTML-escaped;
// no input produces a tag or attribute other than the ones above.
func render(src string) template.HTML {
	var b strings.Builder
	var para, list []string
	flush := func() {
		if len(para) > 0 {
			b.WriteString("<p>")
			for i, line := range para {
				if i > 0 {
					b.WriteString("\n")
				}
				b.WriteString(inline(line))
			}
			b.WriteString("</p>\n")
			para = para[:0]
		}
		if len(list) > 0 {
			b.WriteString("<ul>\n")
			for _, item := range list {
				b.WriteString("<li>" + inline(item) + "</li>\n")
			}
			b.WriteString("</ul>\n")
			list = list[:0]
		}
	}
	for _, line := range strings.Split(strings.ReplaceAll(src, "\r\n", "\n"), "\n") {
		line = strings.TrimRight(line, " \t\r")
		if level, text := heading(line); level > 0 {
			flush()
			h := string(rune('1' + level)) // # is <h2>: the page title is the <h1>
			b.WriteString("<h" + h + ">" + inline(text) + "</h" + h + ">\n")
			continue
		}
		switch {
		case line == "":
			flush()
		case strings.HasPrefix(line, "- ") || strings.HasPrefix(line, "* "):
			if len(para) > 0 {
				flush()
			}
			list = append(list, strings.TrimSpace(line[2:]))
		default:
			if len(list) > 0 {
				flush()
			}
			para = append(para, line)
		}
	}
	flush()
	return template.HTML(b.String())
}

// heading returns the level (1-3) and text of a "# text" line, or 0.
func heading(line string) (int, string) {
	n := 0
	for n < len(line) && line[n] == '#' {
		n++
	}
	if n == 0 || n > 3 || n >= len(line) || line[n] != ' ' {
		return 0, ""
	}
	return n, strings.TrimSpace(line[n:])
}

// inline escapes text and turns well-formed [[links]] into anchors; a
// link whose target is not a valid title or file name stays plain text.
func inline(s string) string {
	var b strings.Builder
	for {
		start := strings.Index(s, "[[")
		if start < 0 {
			break
		}
		end := strings.Index(s[start+2:], "]]")
		if end < 0 {
			break
		}
		end += start + 2
		b.WriteString(template.HTMLEscapeString(s[:start]))
		if a, ok := link(s[start+2 : end]); ok {
			b.WriteString(a)
		} else {
			b.WriteString(template.HTMLEscapeString(s[start : end+2]))
		}
		s = s[end+2:]
	}
	b.WriteString(template.HTMLEscapeString(s))
	return b.String()
}

func link(inner string) (string, bool) {
	target, label, hasLabel := strings.Cut(inner, "|")
	target = strings.TrimSpace(target)
	var href string
	if name, ok := strings.CutPrefix(target, "File:"); ok {
		if !validFileName(name) {
			return "", false
		}
		href = "/files/" + name
	} else {
		title, err := canonicalTitle(target)
		if err != nil {
			return "", false
		}
		href = titlePath(title)
	}
	if label = strings.TrimSpace(label); !hasLabel || label == "" {
		label = target
	}
	// href holds only path-escaped characters: nothing to break out of.
	return `<a href="` + href + `">` + template.HTMLEscapeString(label) + `</a>`, true
}
