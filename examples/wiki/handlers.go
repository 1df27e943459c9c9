package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

//go:embed templates/*.html
var templateFiles embed.FS

// markupVersion goes into every page ETag with the templates' hash; bump
// it when render's output changes, so caches do not keep old HTML.
const markupVersion = 1

const (
	maxPageBytes  = 200_000 // page source
	maxFormBytes  = 1 << 20 // an edit form, URL-encoded
	maxSmallForm  = 8 << 10 // login, logout
	maxComment    = 200     // runes
	maxHistory    = 500     // revisions shown
	healthTimeout = time.Second
)

// AppOptions configures an App. Store and Logger are required; a nil
// Purger means edits purge nothing (no edge in front).
type AppOptions struct {
	Store     *Store
	Purger    *Purger
	Logger    *slog.Logger
	Instance  string // shown in X-Instance and the footer; may be empty
	UploadDir string // where uploaded bytes live; with Objects, where they wait to be sent
	// Objects, if not nil, is the S3 bucket that keeps the uploaded
	// bytes instead of UploadDir.
	Objects *Objects
}

// App is the wiki's HTTP side. It holds no per-user state: sessions,
// pages and file metadata are in the Store, file bytes in UploadDir, so
// any number of Apps on the same files serve the same wiki.
type App struct {
	store     *Store
	purger    *Purger
	log       *slog.Logger
	instance  string
	uploadDir string
	objects   *Objects                      // nil: uploads in uploadDir
	pages     map[string]*template.Template // by file name, e.g. "page.html"
	build     string                        // templates' hash + markupVersion, for ETags
}

// NewApp parses the templates and creates the upload directory.
func NewApp(o AppOptions) (*App, error) {
	if err := os.MkdirAll(o.UploadDir, 0o755); err != nil {
		return nil, fmt.Errorf("create upload directory: %w", err)
	}
	a := &App{store: o.Store, purger: o.Purger, log: o.Logger, instance: o.Instance,
		uploadDir: o.UploadDir, objects: o.Objects, pages: map[string]*template.Template{}}
	funcs := template.FuncMap{
		"display":  displayTitle,
		"pagePath": titlePath,
		"fmtTime":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	}
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("parse templates: %w", err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "markup %d\n", markupVersion)
	for _, name := range names {
		b, err := templateFiles.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("parse templates: %w", err)
		}
		h.Write(b)
		if name == "templates/layout.html" {
			continue
		}
		t, err := template.New("").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", name)
		if err != nil {
			return nil, fmt.Errorf("parse templates: %w", err)
		}
		a.pages[strings.TrimPrefix(name, "templates/")] = t
	}
	a.build = hex.EncodeToString(h.Sum(nil))[:12]
	return a, nil
}

// Handler returns the wiki's routes. ServeMux answers a known path with
// the wrong method with 405 and an Allow header.
func (a *App) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /{$}", a.handle(a.index))
	mux.Handle("GET /new", a.handle(a.newPage))
	mux.Handle("GET /wiki/{title}", a.handle(a.view))
	mux.Handle("POST /wiki/{title}", a.handle(a.save))
	mux.Handle("GET /wiki/{title}/edit", a.handle(a.edit))
	mux.Handle("GET /wiki/{title}/history", a.handle(a.history))
	mux.Handle("GET /login", a.handle(a.loginForm))
	mux.Handle("POST /login", a.handle(a.login))
	mux.Handle("POST /logout", a.handle(a.logout))
	mux.Handle("GET /upload", a.handle(a.uploadForm))
	mux.Handle("POST /upload", a.handle(a.upload))
	mux.Handle("GET /files/{name}", a.handle(a.file))
	mux.HandleFunc("GET /healthz", a.healthz)

	// Browsers tell cross-site form posts apart (Sec-Fetch-Site, Origin);
	// this refuses them before any handler runs. It is what protects the
	// login form, which has no session yet to hold a CSRF token.
	h := http.NewCrossOriginProtection().Handler(mux)
	if a.instance == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Instance", a.instance)
		h.ServeHTTP(w, r)
	})
}

// view is what every template gets; Data is the page's own part.
type view struct {
	Title    string // of the document
	User     string // empty when anonymous
	CSRF     string
	Path     string // where "Log in" returns to
	Instance string
	Rendered time.Time
	Data     any
}

func (a *App) newView(r *http.Request, sess Session, title string, data any) view {
	return view{Title: title, User: sess.Username, CSRF: sess.CSRF, Path: r.URL.EscapedPath(),
		Instance: a.instance, Rendered: time.Now(), Data: data}
}

// render writes the named template with status. It renders into a buffer
// first, so a template error becomes a clean 500 rather than half a page.
func (a *App) render(w http.ResponseWriter, status int, name string, v view) error {
	var buf bytes.Buffer
	if err := a.pages[name].ExecuteTemplate(&buf, "layout", v); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "+
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Referrer-Policy", "same-origin")
	w.WriteHeader(status)
	w.Write(buf.Bytes()) // an error here means the client went away
	return nil
}

// cachePolicy sets the caching headers for a page view (see cache.go) and
// reports whether it has answered already, with 304. A request carrying a
// session cookie gets a private response even if the session is gone:
// that response may clear the cookie, and must not be shared.
func (a *App) cachePolicy(w http.ResponseWriter, r *http.Request, etag string, modified time.Time, tags ...string) bool {
	if hasSessionCookie(r) {
		w.Header().Set("Cache-Control", cachePrivate)
		return false
	}
	setPublic(w.Header(), etag, modified, tags...)
	if notModified(r, etag, modified) {
		w.WriteHeader(http.StatusNotModified)
		return true
	}
	return false
}

func (a *App) etag(kind string, id int64) string {
	return fmt.Sprintf(`W/"%s%d-%s"`, kind, id, a.build)
}

func (a *App) index(w http.ResponseWriter, r *http.Request) error {
	sess, err := a.session(w, r)
	if err != nil {
		return err
	}
	last, modified, err := a.store.LastChange(r.Context())
	if err != nil {
		return err
	}
	if a.cachePolicy(w, r, a.etag("i", last), modified, "index", "pages") {
		return nil
	}
	pages, err := a.store.Pages(r.Context())
	if err != nil {
		return err
	}
	return a.render(w, http.StatusOK, "index.html", a.newView(r, sess, "Pages", struct{ Pages []Revision }{pages}))
}

// newPage turns the index's "New page" form into the page's edit URL.
func (a *App) newPage(w http.ResponseWriter, r *http.Request) error {
	title, err := canonicalTitle(r.URL.Query().Get("title"))
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", cachePrivate)
	http.Redirect(w, r, titlePath(title)+"/edit", http.StatusSeeOther)
	return nil
}

// pageTitle returns the canonical title in the request path. A GET that
// spells it otherwise ("Main page", "Main__page") is redirected to the
// canonical URL, so each page is cached under one URL; ok is then false.
func pageTitle(w http.ResponseWriter, r *http.Request, suffix string) (title string, ok bool, err error) {
	raw := r.PathValue("title")
	title, err = canonicalTitle(raw)
	if err != nil {
		return "", false, err
	}
	if title != raw && r.Method == http.MethodGet {
		target := titlePath(title) + suffix
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		http.Redirect(w, r, target, http.StatusMovedPermanently)
		return "", false, nil
	}
	return title, true, nil
}

type pageData struct {
	Rev  Revision
	HTML template.HTML
	Old  bool // an old revision, not the current page
}

func (a *App) view(w http.ResponseWriter, r *http.Request) error {
	title, ok, err := pageTitle(w, r, "")
	if !ok {
		return err
	}
	sess, err := a.session(w, r)
	if err != nil {
		return err
	}
	var rev Revision
	revParam := r.URL.Query().Get("rev")
	if revParam == "" {
		rev, err = a.store.Page(r.Context(), title)
	} else if id, perr := strconv.ParseInt(revParam, 10, 64); perr != nil || id <= 0 {
		return withStatus(http.StatusBadRequest, errors.New("rev must be a revision number"))
	} else {
		rev, err = a.store.Revision(r.Context(), title, id)
	}
	if errors.Is(err, ErrNotFound) && revParam == "" {
		// Cached and tagged like the page, so creating it purges this too.
		if a.cachePolicy(w, r, "", time.Time{}, pageTag(title), "pages") {
			return nil
		}
		return a.render(w, http.StatusNotFound, "missing.html",
			a.newView(r, sess, displayTitle(title), struct{ Title string }{title}))
	}
	if err != nil {
		return err
	}
	if a.cachePolicy(w, r, a.etag("r", rev.ID), rev.Created, pageTag(title), "pages") {
		return nil
	}
	data := pageData{Rev: rev, HTML: render(rev.Body), Old: revParam != ""}
	return a.render(w, http.StatusOK, "page.html", a.newView(r, sess, displayTitle(title), data))
}

func (a *App) history(w http.ResponseWriter, r *http.Request) error {
	title, ok, err := pageTitle(w, r, "/history")
	if !ok {
		return err
	}
	sess, err := a.session(w, r)
	if err != nil {
		return err
	}
	cur, err := a.store.Page(r.Context(), title)
	if err != nil {
		return err
	}
	if a.cachePolicy(w, r, a.etag("h", cur.ID), cur.Created, pageTag(title), "pages") {
		return nil
	}
	revs, err := a.store.History(r.Context(), title, maxHistory)
	if err != nil {
		return err
	}
	data := struct {
		Title     string
		Revisions []Revision
	}{title, revs}
	return a.render(w, http.StatusOK, "history.html", a.newView(r, sess, "History of "+displayTitle(title), data))
}

type editData struct {
	Title, Body, Comment, Error string
	BaseRev                     int64
	MaxBody                     int
}

func (a *App) edit(w http.ResponseWriter, r *http.Request) error {
	title, ok, err := pageTitle(w, r, "/edit")
	if !ok {
		return err
	}
	w.Header().Set("Cache-Control", cachePrivate)
	sess, err := a.session(w, r)
	if err != nil {
		return err
	}
	if sess.Username == "" {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.EscapedPath()), http.StatusSeeOther)
		return nil
	}
	data := editData{Title: title, MaxBody: maxPageBytes}
	cur, err := a.store.Page(r.Context(), title)
	switch {
	case err == nil:
		data.Body, data.BaseRev = cur.Body, cur.ID
	case !errors.Is(err, ErrNotFound):
		return err
	}
	return a.render(w, http.StatusOK, "edit.html", a.newView(r, sess, "Editing "+displayTitle(title), data))
}

func (a *App) save(w http.ResponseWriter, r *http.Request) error {
	title, _, err := pageTitle(w, r, "")
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", cachePrivate)
	sess, err := a.postForm(w, r, maxFormBytes)
	if err != nil {
		return err
	}
	body := strings.ReplaceAll(formText(r, "body"), "\r\n", "\n")
	if len(body) > maxPageBytes {
		return withStatus(http.StatusRequestEntityTooLarge,
			fmt.Errorf("a page is at most %d bytes", maxPageBytes))
	}
	comment := strings.TrimSpace(formText(r, "comment"))
	if utf8.RuneCountInString(comment) > maxComment || strings.ContainsAny(comment, "\r\n") {
		return withStatus(http.StatusBadRequest, fmt.Errorf("a summary is one line of at most %d characters", maxComment))
	}
	base, err := strconv.ParseInt(r.PostForm.Get("base"), 10, 64)
	if err != nil || base < 0 {
		return withStatus(http.StatusBadRequest, errors.New("the form lacks the revision it edits"))
	}

	rev, err := a.store.SavePage(r.Context(), Edit{Title: title, Body: body, Author: sess.Username,
		Comment: comment, BaseRev: base})
	if errors.Is(err, ErrEditConflict) {
		return a.editConflict(w, r, sess, editData{Title: title, Body: body, Comment: comment, MaxBody: maxPageBytes})
	}
	if err != nil {
		return err
	}
	a.log.Info("page saved", "title", title, "rev", rev.ID, "author", sess.Username)
	a.purge(r.Context(), title)
	http.Redirect(w, r, titlePath(title), http.StatusSeeOther)
	return nil
}

// formText returns a posted text field as valid UTF-8 without NUL
// characters (PostgreSQL's text refuses them), each bad byte or NUL
// replaced by U+FFFD.
func formText(r *http.Request, field string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(r.PostForm.Get(field), "\uFFFD"), "\x00", "\uFFFD")
}

// editConflict shows the edit form again with the editor's text, based on
// the page's current revision: saving it again overwrites, knowingly.
func (a *App) editConflict(w http.ResponseWriter, r *http.Request, sess Session, data editData) error {
	cur, err := a.store.Page(r.Context(), data.Title)
	if err != nil {
		return err
	}
	data.BaseRev = cur.ID
	data.Error = fmt.Sprintf("%s changed the page (revision %d) while you were editing. "+
		"Your text is below; saving it replaces theirs.", cur.Author, cur.ID)
	return a.render(w, http.StatusConflict, "edit.html", a.newView(r, sess, "Edit conflict", data))
}

func (a *App) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if a.store.Shared() {
		// A database every instance shares (PostgreSQL through tandem's
		// endpoint) is no part of this instance's health: were it down,
		// it would be down for every instance, and taking them all out
		// of the balancer would only turn slow requests during a failover
		// into errors. (Nor may the check wait on it: the endpoint holds
		// connections while it fails over.)
		io.WriteString(w, "ok")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), healthTimeout)
	defer cancel()
	if err := a.store.Ping(ctx); err != nil {
		a.log.Warn("health check failed", "err", err)
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "database unavailable")
		return
	}
	io.WriteString(w, "ok")
}
