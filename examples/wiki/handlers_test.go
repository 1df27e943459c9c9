package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func TestCreateEditViewHistory(t *testing.T) {
	a := newTestApp(t, t.TempDir(), nil)
	alice := a.login(t, "alice")

	rec := a.get(t, anonymous, "/wiki/Main_page")
	wantStatus(t, "GET missing page", rec, http.StatusNotFound)
	if !strings.Contains(rec.Body.String(), `href="/wiki/Main_page/edit"`) {
		t.Errorf("missing page has no create link:\n%s", rec.Body)
	}

	rec = a.save(t, alice, "Main_page", "Hello [[Other page]].", 0)
	wantStatus(t, "create page", rec, http.StatusSeeOther)
	wantHeader(t, "create page", rec, "Location", "/wiki/Main_page")

	first, err := a.store.Page(t.Context(), "Main_page")
	if err != nil {
		t.Fatal(err)
	}
	rec = a.save(t, alice, "Main_page", "Second <b>version</b>.", first.ID)
	wantStatus(t, "edit page", rec, http.StatusSeeOther)

	rec = a.get(t, anonymous, "/wiki/Main_page")
	wantStatus(t, "GET page", rec, http.StatusOK)
	body := rec.Body.String()
	if !strings.Contains(body, "Second &lt;b&gt;version&lt;/b&gt;.") || strings.Contains(body, "<b>version") {
		t.Errorf("page body not the escaped second version:\n%s", body)
	}
	if !strings.Contains(body, "test-1") {
		t.Errorf("footer does not name the instance")
	}
	wantHeader(t, "GET page", rec, "X-Instance", "test-1")

	rec = a.get(t, anonymous, "/wiki/Main_page?rev="+itoa(first.ID))
	wantStatus(t, "GET old revision", rec, http.StatusOK)
	if !strings.Contains(rec.Body.String(), `<a href="/wiki/Other_page">Other page</a>`) {
		t.Errorf("old revision not shown with its link:\n%s", rec.Body)
	}

	rec = a.get(t, anonymous, "/wiki/Main_page/history")
	wantStatus(t, "GET history", rec, http.StatusOK)
	if n := strings.Count(rec.Body.String(), "?rev="); n != 2 {
		t.Errorf("history lists %d revisions; want 2", n)
	}

	rec = a.get(t, anonymous, "/")
	wantStatus(t, "GET /", rec, http.StatusOK)
	if !strings.Contains(rec.Body.String(), `href="/wiki/Main_page"`) {
		t.Errorf("index does not list the page:\n%s", rec.Body)
	}

	// Another spelling of the title redirects to the one URL that is cached.
	rec = a.get(t, anonymous, "/wiki/Main%20page/history")
	wantStatus(t, "GET non-canonical title", rec, http.StatusMovedPermanently)
	wantHeader(t, "GET non-canonical title", rec, "Location", "/wiki/Main_page/history")
}

func TestUnicodeTitle(t *testing.T) {
	a := newTestApp(t, t.TempDir(), nil)
	alice := a.login(t, "alice")
	wantStatus(t, "create Café", a.save(t, alice, "Café au lait", "☕", 0), http.StatusSeeOther)
	rec := a.get(t, anonymous, "/wiki/Caf%C3%A9_au_lait")
	wantStatus(t, "GET Café", rec, http.StatusOK)
	wantHeader(t, "GET Café", rec, "Surrogate-Key", "page-Caf%C3%A9_au_lait pages")
}

func TestEditConflict(t *testing.T) {
	a := newTestApp(t, t.TempDir(), nil)
	alice, bob := a.login(t, "alice"), a.login(t, "bob")
	wantStatus(t, "create", a.save(t, alice, "P", "one", 0), http.StatusSeeOther)
	rev, _ := a.store.Page(t.Context(), "P")
	wantStatus(t, "alice edits", a.save(t, alice, "P", "alice's", rev.ID), http.StatusSeeOther)
	rec := a.save(t, bob, "P", "bob's", rev.ID)
	wantStatus(t, "bob edits the same base", rec, http.StatusConflict)
	if !strings.Contains(rec.Body.String(), "bob&#39;s") {
		t.Errorf("conflict page lost bob's text:\n%s", rec.Body)
	}
	if cur, _ := a.store.Page(t.Context(), "P"); cur.Body != "alice's" {
		t.Errorf("after conflict page = %q; want alice's", cur.Body)
	}
}

func TestEditRequiresLogin(t *testing.T) {
	a := newTestApp(t, t.TempDir(), nil)

	rec := a.get(t, anonymous, "/wiki/P/edit")
	wantStatus(t, "anonymous GET edit", rec, http.StatusSeeOther)
	wantHeader(t, "anonymous GET edit", rec, "Location", "/login?next=%2Fwiki%2FP%2Fedit")

	rec = a.save(t, anonymous, "P", "spam", 0)
	wantStatus(t, "anonymous save", rec, http.StatusForbidden)

	// A cookie for a session that does not exist is anonymous too, and is cleared.
	forged := user{cookie: &http.Cookie{Name: sessionCookie, Value: randomToken()}, csrf: "x"}
	rec = a.save(t, forged, "P", "spam", 0)
	wantStatus(t, "save with forged session", rec, http.StatusForbidden)
	if c := rec.Result().Cookies(); len(c) != 1 || c[0].MaxAge >= 0 {
		t.Errorf("forged session cookie not cleared: %v", c)
	}

	if _, err := a.store.Page(t.Context(), "P"); err == nil {
		t.Error("an anonymous edit was saved")
	}

	rec = a.get(t, anonymous, "/upload")
	wantStatus(t, "anonymous GET /upload", rec, http.StatusSeeOther)
	rec = a.upload(t, anonymous, "x", "a.txt", []byte("x"))
	wantStatus(t, "anonymous upload", rec, http.StatusForbidden)
}

func TestCSRFRejected(t *testing.T) {
	a := newTestApp(t, t.TempDir(), nil)
	alice, bob := a.login(t, "alice"), a.login(t, "bob")
	for _, tc := range []struct{ name, token string }{
		{"missing", ""},
		{"wrong", "not-the-token"},
		{"another session's", bob.csrf},
	} {
		u := user{cookie: alice.cookie, csrf: tc.token}
		wantStatus(t, tc.name+" token: save", a.save(t, u, "P", "x", 0), http.StatusForbidden)
		wantStatus(t, tc.name+" token: upload", a.upload(t, u, tc.token, "a.txt", []byte("x")), http.StatusForbidden)
		wantStatus(t, tc.name+" token: logout",
			a.postForm(t, u, "/logout", url.Values{"csrf": {tc.token}}), http.StatusForbidden)
	}
	if _, err := a.store.Page(t.Context(), "P"); err == nil {
		t.Error("an edit without the right CSRF token was saved")
	}

	// A browser's cross-site POST is refused before it reaches a handler:
	// this is what protects the login form.
	rec := a.do(t, anonymous, http.MethodPost, "/login", strings.NewReader("username=mallory"),
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Sec-Fetch-Site": {"cross-site"}})
	wantStatus(t, "cross-site POST /login", rec, http.StatusForbidden)

	// The right token works, and logging out ends the session everywhere.
	wantStatus(t, "logout", a.postForm(t, alice, "/logout", url.Values{"csrf": {alice.csrf}}), http.StatusSeeOther)
	wantStatus(t, "save after logout", a.save(t, alice, "P", "x", 0), http.StatusForbidden)
}

func TestSessionSharedAcrossInstances(t *testing.T) {
	dir := t.TempDir()
	one, two := newTestApp(t, dir, nil), newTestApp(t, dir, nil)

	alice := one.login(t, "alice")
	rec := two.get(t, alice, "/wiki/P/edit")
	wantStatus(t, "instance two: GET edit with instance one's session", rec, http.StatusOK)
	if !strings.Contains(rec.Body.String(), alice.csrf) {
		t.Error("instance two's form carries another CSRF token than instance one's")
	}
	wantStatus(t, "instance two: save", two.save(t, alice, "P", "from two", 0), http.StatusSeeOther)
	rec = one.get(t, anonymous, "/wiki/P")
	if !strings.Contains(rec.Body.String(), "from two") {
		t.Errorf("instance one does not show instance two's edit:\n%s", rec.Body)
	}
	// Logging out on one ends the session on two.
	wantStatus(t, "instance one: logout", one.postForm(t, alice, "/logout", url.Values{"csrf": {alice.csrf}}), http.StatusSeeOther)
	wantStatus(t, "instance two: save after logout", two.save(t, alice, "P", "x", 1), http.StatusForbidden)
}

func TestUploadDownload(t *testing.T) {
	a := newTestApp(t, t.TempDir(), nil)
	alice := a.login(t, "alice")
	png := append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 100)...)

	rec := a.upload(t, alice, alice.csrf, "../../etc/cat picture.png", png)
	wantStatus(t, "upload", rec, http.StatusSeeOther)
	rec = a.get(t, anonymous, "/files/cat_picture.png")
	wantStatus(t, "download", rec, http.StatusOK)
	if rec.Body.String() != string(png) {
		t.Error("downloaded bytes differ from the upload")
	}
	wantHeader(t, "download", rec, "Content-Type", "image/png")
	wantHeader(t, "download", rec, "Cache-Control", "public, max-age=3600")
	wantHeader(t, "download", rec, "Content-Disposition", "")
	wantHeader(t, "download", rec, "X-Content-Type-Options", "nosniff")
	etag := rec.Header().Get("ETag")
	if len(etag) != 66 {
		t.Errorf("download ETag = %q; want the quoted SHA-256", etag)
	}
	rec = a.do(t, anonymous, http.MethodGet, "/files/cat_picture.png", nil, http.Header{"If-None-Match": {etag}})
	wantStatus(t, "download If-None-Match", rec, http.StatusNotModified)

	// HTML is served, but as a download: it must not run on the wiki's origin.
	wantStatus(t, "upload html", a.upload(t, alice, alice.csrf, "x", []byte("<html><script>alert(1)</script>")), http.StatusSeeOther)
	rec = a.get(t, anonymous, "/files/x")
	wantHeader(t, "download html", rec, "Content-Type", "text/html; charset=utf-8")
	wantHeader(t, "download html", rec, "Content-Disposition", `attachment; filename="x"`)

	wantStatus(t, "upload taken name", a.upload(t, alice, alice.csrf, "cat_picture.png", []byte("other")), http.StatusConflict)
	wantStatus(t, "upload nameless", a.upload(t, alice, alice.csrf, "..", []byte("x")), http.StatusBadRequest)
	wantStatus(t, "upload too large", a.upload(t, alice, alice.csrf, "big.bin", make([]byte, maxUpload+1)), http.StatusRequestEntityTooLarge)

	for _, target := range []string{
		"/files/..%2Fwiki.db",
		"/files/..%2F..%2Fetc%2Fpasswd",
		"/files/.hidden",
		"/files/a%5Cb",
		"/files/nothing-here.png",
	} {
		rec := a.get(t, anonymous, target)
		if rec.Code != http.StatusBadRequest && rec.Code != http.StatusNotFound {
			t.Errorf("GET %s = %d; want 400 or 404", target, rec.Code)
		}
	}
	rec = a.get(t, anonymous, "/files/../wiki.db") // the mux cleans this to /wiki.db
	if rec.Code == http.StatusOK {
		t.Errorf("GET /files/../wiki.db = 200")
	}
}

func TestCacheHeaders(t *testing.T) {
	a := newTestApp(t, t.TempDir(), nil)
	alice := a.login(t, "alice")
	wantStatus(t, "create", a.save(t, alice, "P", "x", 0), http.StatusSeeOther)

	for _, tc := range []struct {
		target, tags string
		status       int
	}{
		{"/", "index pages", http.StatusOK},
		{"/wiki/P", "page-P pages", http.StatusOK},
		{"/wiki/P/history", "page-P pages", http.StatusOK},
		{"/wiki/Missing", "page-Missing pages", http.StatusNotFound},
	} {
		rec := a.get(t, anonymous, tc.target)
		wantStatus(t, "anonymous GET "+tc.target, rec, tc.status)
		wantHeader(t, "anonymous GET "+tc.target, rec, "Cache-Control", "public, max-age=0, s-maxage=300")
		wantHeader(t, "anonymous GET "+tc.target, rec, "Tandem-Cache-Control", "max-age=300")
		wantHeader(t, "anonymous GET "+tc.target, rec, "Surrogate-Key", tc.tags)
		wantHeader(t, "anonymous GET "+tc.target, rec, "Vary", "Cookie")
		if tc.status == http.StatusOK && (rec.Header().Get("ETag") == "" || rec.Header().Get("Last-Modified") == "") {
			t.Errorf("anonymous GET %s: no ETag or Last-Modified", tc.target)
		}

		rec = a.get(t, alice, tc.target)
		wantStatus(t, "logged-in GET "+tc.target, rec, tc.status)
		wantHeader(t, "logged-in GET "+tc.target, rec, "Cache-Control", "private, no-store")
		wantHeader(t, "logged-in GET "+tc.target, rec, "Surrogate-Key", "")
	}
	for _, target := range []string{"/wiki/P/edit", "/login", "/upload"} {
		wantHeader(t, "GET "+target, a.get(t, alice, target), "Cache-Control", "private, no-store")
	}
	wantHeader(t, "GET /login", a.get(t, anonymous, "/login"), "Cache-Control", "private, no-store")
	wantHeader(t, "bad title", a.get(t, anonymous, "/wiki/%3Cscript%3E"), "Cache-Control", "no-store")
}

func TestETagNotModified(t *testing.T) {
	a := newTestApp(t, t.TempDir(), nil)
	alice := a.login(t, "alice")
	wantStatus(t, "create", a.save(t, alice, "P", "x", 0), http.StatusSeeOther)

	for _, target := range []string{"/", "/wiki/P", "/wiki/P/history"} {
		rec := a.get(t, anonymous, target)
		etag, modified := rec.Header().Get("ETag"), rec.Header().Get("Last-Modified")
		if !strings.HasPrefix(etag, `W/"`) {
			t.Fatalf("GET %s: ETag = %q; want a weak ETag", target, etag)
		}
		for _, inm := range []string{etag, strings.TrimPrefix(etag, "W/"), `"other", ` + etag, "*"} {
			rec = a.do(t, anonymous, http.MethodGet, target, nil, http.Header{"If-None-Match": {inm}})
			wantStatus(t, "GET "+target+" If-None-Match: "+inm, rec, http.StatusNotModified)
			if rec.Body.Len() != 0 {
				t.Errorf("GET %s: 304 has a body", target)
			}
			wantHeader(t, "304 for "+target, rec, "ETag", etag)
			wantHeader(t, "304 for "+target, rec, "Cache-Control", "public, max-age=0, s-maxage=300")
		}
		rec = a.do(t, anonymous, http.MethodGet, target, nil, http.Header{"If-Modified-Since": {modified}})
		wantStatus(t, "GET "+target+" If-Modified-Since", rec, http.StatusNotModified)
		rec = a.do(t, anonymous, http.MethodGet, target, nil, http.Header{"If-None-Match": {`W/"r999-x"`}})
		wantStatus(t, "GET "+target+" other ETag", rec, http.StatusOK)
	}

	old := a.get(t, anonymous, "/wiki/P").Header().Get("ETag")
	wantStatus(t, "edit", a.save(t, alice, "P", "y", 1), http.StatusSeeOther)
	rec := a.do(t, anonymous, http.MethodGet, "/wiki/P", nil, http.Header{"If-None-Match": {old}})
	wantStatus(t, "GET after edit with old ETag", rec, http.StatusOK)

	// A logged-in user's copy is not stored anywhere: no validators, no 304.
	rec = a.do(t, alice, http.MethodGet, "/wiki/P", nil, http.Header{"If-None-Match": {"*"}})
	wantStatus(t, "logged-in GET If-None-Match: *", rec, http.StatusOK)
}

// edge records the purges an httptest server acting as tandem's edge gets.
type edge struct {
	mu     sync.Mutex // guards the fields below
	purges []http.Header
	method []string
}

func (e *edge) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.method = append(e.method, r.Method)
	e.purges = append(e.purges, r.Header.Clone())
}

func TestPurgeOnEdit(t *testing.T) {
	e := &edge{}
	srv := httptest.NewServer(e)
	defer srv.Close()
	a := newTestApp(t, t.TempDir(), NewPurger(srv.URL+"/"))
	alice := a.login(t, "alice")

	wantStatus(t, "create", a.save(t, alice, "Main page", "x", 0), http.StatusSeeOther)
	wantStatus(t, "edit", a.save(t, alice, "Main page", "y", 1), http.StatusSeeOther)

	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.purges) != 2 {
		t.Fatalf("edge got %d requests; want 2 purges", len(e.purges))
	}
	for i := range e.purges {
		if e.method[i] != "PURGE" {
			t.Errorf("request %d: method = %q; want PURGE", i, e.method[i])
		}
		if got := e.purges[i].Get("Surrogate-Key"); got != "page-Main_page index" {
			t.Errorf("request %d: Surrogate-Key = %q; want %q", i, got, "page-Main_page index")
		}
	}
}

func TestPurgeFailureKeepsEdit(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"edge answers 500", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", 500) }},
		{"edge is gone", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			url := srv.URL
			if tc.handler == nil {
				srv.Close() // nothing listens there any more
			} else {
				defer srv.Close()
			}
			a := newTestApp(t, t.TempDir(), NewPurger(url))
			alice := a.login(t, "alice")
			wantStatus(t, "save", a.save(t, alice, "P", "kept", 0), http.StatusSeeOther)
			if p, err := a.store.Page(t.Context(), "P"); err != nil || p.Body != "kept" {
				t.Errorf("page after failed purge = %q, %v; want kept", p.Body, err)
			}
		})
	}
}

func TestHealthz(t *testing.T) {
	a := newTestApp(t, t.TempDir(), nil)
	rec := a.get(t, anonymous, "/healthz")
	wantStatus(t, "GET /healthz", rec, http.StatusOK)
	if rec.Body.String() != "ok" {
		t.Errorf("GET /healthz body = %q; want ok", rec.Body)
	}
	wantHeader(t, "GET /healthz", rec, "Cache-Control", "no-store")

	a.store.Close()
	rec = a.get(t, anonymous, "/healthz")
	if a.store.Shared() {
		// A shared database down is no reason to take this instance out.
		wantStatus(t, "GET /healthz with the shared database closed", rec, http.StatusOK)
		return
	}
	wantStatus(t, "GET /healthz with the database closed", rec, http.StatusServiceUnavailable)
}

func TestHostileInput(t *testing.T) {
	a := newTestApp(t, t.TempDir(), nil)
	alice := a.login(t, "alice")
	long := strings.Repeat("a", maxTitleRunes+1)

	for _, tc := range []struct {
		name   string
		rec    *httptest.ResponseRecorder
		status int
	}{
		{"title too long", a.get(t, anonymous, "/wiki/"+long), http.StatusBadRequest},
		{"title with <", a.get(t, anonymous, "/wiki/%3Cscript%3E"), http.StatusBadRequest},
		{"title with slash", a.get(t, anonymous, "/wiki/a%2Fb"), http.StatusBadRequest},
		{"title of dots", a.get(t, anonymous, "/wiki/..."), http.StatusBadRequest},
		{"title invalid UTF-8", a.get(t, anonymous, "/wiki/%FF"), http.StatusBadRequest},
		{"save bad title", a.save(t, alice, "a/b", "x", 0), http.StatusBadRequest},
		{"save page too large", a.save(t, alice, "P", strings.Repeat("x", maxPageBytes+1), 0), http.StatusRequestEntityTooLarge},
		{"save form too large", a.save(t, alice, "P", strings.Repeat("<", maxFormBytes), 0), http.StatusRequestEntityTooLarge},
		{"save without base", a.postForm(t, alice, "/wiki/P", url.Values{"csrf": {alice.csrf}}), http.StatusBadRequest},
		{"rev not a number", a.get(t, anonymous, "/wiki/P?rev=x"), http.StatusBadRequest},
		{"login bad name", a.postForm(t, anonymous, "/login", url.Values{"username": {"<b>"}}), http.StatusBadRequest},
		{"PUT a page", a.do(t, alice, http.MethodPut, "/wiki/P", nil, nil), http.StatusMethodNotAllowed},
		{"DELETE /", a.do(t, alice, http.MethodDelete, "/", nil, nil), http.StatusMethodNotAllowed},
		{"GET /logout", a.get(t, alice, "/logout"), http.StatusMethodNotAllowed},
		{"no route", a.get(t, anonymous, "/nope"), http.StatusNotFound},
	} {
		if tc.rec.Code != tc.status {
			t.Errorf("%s = %d; want %d", tc.name, tc.rec.Code, tc.status)
		}
		if tc.status == http.StatusMethodNotAllowed && tc.rec.Header().Get("Allow") == "" {
			t.Errorf("%s: 405 without Allow", tc.name)
		}
	}

	// Login redirects only within the site.
	for next, want := range map[string]string{
		"/wiki/P":               "/wiki/P",
		"//evil.example/":       "/",
		"/\\evil.example":       "/",
		"https://evil.example/": "/",
	} {
		rec := a.postForm(t, anonymous, "/login", url.Values{"username": {"bob"}, "next": {next}})
		wantHeader(t, "login next="+next, rec, "Location", want)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestNULInText: a NUL in a page or its summary is kept as U+FFFD, as
// invalid UTF-8 is, on every database (PostgreSQL's text cannot hold it).
func TestNULInText(t *testing.T) {
	a := newTestApp(t, t.TempDir(), nil)
	alice := a.login(t, "alice")
	rec := a.postForm(t, alice, "/wiki/P", url.Values{"csrf": {alice.csrf}, "body": {"a\x00b"}, "comment": {"c\x00"}, "base": {"0"}})
	wantStatus(t, "save with NUL", rec, http.StatusSeeOther)
	rev, err := a.store.Page(t.Context(), "P")
	if err != nil || rev.Body != "a\uFFFDb" || rev.Comment != "c\uFFFD" {
		t.Errorf("saved page = %+v, %v; want NUL replaced by U+FFFD", rev, err)
	}
}
