package main

import (
	"bytes"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// testApp is one wiki instance over dir, the way tandem runs several over
// one WIKI_DATA.
type testApp struct {
	*App
	store *Store
	h     http.Handler
}

// openTestStore opens the migrated store newTestApp uses for dir: the
// SQLite file in dir, unless a test runs the handlers on PostgreSQL.
var openTestStore = func(t *testing.T, dir string) *Store {
	return openTestStoreSQLite(t, filepath.Join(dir, "wiki.db"))
}

// openTestStoreSQLite opens and migrates the SQLite store at path; it is
// closed when the test ends.
func openTestStoreSQLite(t *testing.T, path string) *Store {
	t.Helper()
	store, err := OpenStore(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if _, _, err := store.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return store
}

func newTestApp(t *testing.T, dir string, purger *Purger) *testApp {
	t.Helper()
	store := openTestStore(t, dir)
	app, err := NewApp(AppOptions{Store: store, Purger: purger, Instance: "test-1",
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil)), UploadDir: filepath.Join(dir, "uploads")})
	if err != nil {
		t.Fatal(err)
	}
	return &testApp{App: app, store: store, h: app.Handler()}
}

// user is a browser: a session cookie (nil when anonymous) and the CSRF
// token its forms carry.
type user struct {
	cookie *http.Cookie
	csrf   string
}

var anonymous = user{}

func (a *testApp) do(t *testing.T, u user, method, target string, body io.Reader, header http.Header) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, target, body)
	for k, vs := range header {
		req.Header[k] = vs
	}
	if u.cookie != nil {
		req.AddCookie(u.cookie)
	}
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, req)
	return rec
}

func (a *testApp) get(t *testing.T, u user, target string) *httptest.ResponseRecorder {
	t.Helper()
	return a.do(t, u, http.MethodGet, target, nil, nil)
}

func (a *testApp) postForm(t *testing.T, u user, target string, form url.Values) *httptest.ResponseRecorder {
	t.Helper()
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	return a.do(t, u, http.MethodPost, target, strings.NewReader(form.Encode()), h)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// login logs in as name and returns the browser, with the CSRF token read
// from a form the way a browser would see it.
func (a *testApp) login(t *testing.T, name string) user {
	t.Helper()
	rec := a.postForm(t, anonymous, "/login", url.Values{"username": {name}})
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("POST /login = %d; want 303\n%s", rec.Code, rec.Body)
	}
	var u user
	for _, c := range rec.Result().Cookies() {
		if c.Name == sessionCookie {
			u.cookie = c
		}
	}
	if u.cookie == nil {
		t.Fatal("POST /login set no session cookie")
	}
	u.csrf = a.csrfOf(t, u)
	return u
}

func (a *testApp) csrfOf(t *testing.T, u user) string {
	t.Helper()
	rec := a.get(t, u, "/upload")
	m := csrfField.FindStringSubmatch(rec.Body.String())
	if m == nil {
		t.Fatalf("GET /upload (%d) has no CSRF field", rec.Code)
	}
	return m[1]
}

// save posts an edit of title based on revision base.
func (a *testApp) save(t *testing.T, u user, title, body string, base int64) *httptest.ResponseRecorder {
	t.Helper()
	return a.postForm(t, u, titlePath(title), url.Values{
		"csrf": {u.csrf}, "body": {body}, "base": {strconv.FormatInt(base, 10)}, "comment": {"test"},
	})
}

// upload posts a multipart upload of content under filename.
func (a *testApp) upload(t *testing.T, u user, csrf, filename string, content []byte) *httptest.ResponseRecorder {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	mw.WriteField("csrf", csrf)
	fw, err := mw.CreateFormFile("file", filename)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(content)
	mw.Close()
	return a.do(t, u, http.MethodPost, "/upload", &buf, http.Header{"Content-Type": {mw.FormDataContentType()}})
}

func wantStatus(t *testing.T, what string, rec *httptest.ResponseRecorder, want int) {
	t.Helper()
	if rec.Code != want {
		t.Fatalf("%s = %d; want %d\n%s", what, rec.Code, want, rec.Body)
	}
}

func wantHeader(t *testing.T, what string, rec *httptest.ResponseRecorder, key, want string) {
	t.Helper()
	if got := rec.Header().Get(key); got != want {
		t.Errorf("%s: %s = %q; want %q", what, key, got, want)
	}
}
