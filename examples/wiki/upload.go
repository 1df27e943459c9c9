package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

const maxUpload = 10 << 20 // bytes in one file

// inlineTypes are shown in the browser; any other upload is served as a
// download, so an uploaded HTML or SVG file cannot run script on the
// wiki's origin. Every file also gets "nosniff" and a sandbox CSP.
var inlineTypes = map[string]bool{
	"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true,
	"image/avif": true, "text/plain": true,
}

func (a *App) uploadForm(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", cachePrivate)
	sess, err := a.session(w, r)
	if err != nil {
		return err
	}
	if sess.Username == "" {
		http.Redirect(w, r, "/login?next=/upload", http.StatusSeeOther)
		return nil
	}
	files, err := a.store.Files(r.Context())
	if err != nil {
		return err
	}
	data := struct {
		Files  []File
		MaxMiB int
	}{files, maxUpload >> 20}
	return a.render(w, http.StatusOK, "upload.html", a.newView(r, sess, "Files", data))
}

// upload stores a file posted as multipart/form-data: the CSRF token in
// "csrf", the file in "file", optionally a name to use in "name".
func (a *App) upload(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", cachePrivate)
	r.Body = http.MaxBytesReader(w, r.Body, maxUpload+1<<20) // the file plus the form around it
	sess, err := a.session(w, r)
	if err != nil {
		return err
	}
	if sess.Username == "" {
		return errLoginRequired
	}
	// Parts beyond 1 MiB go to temporary files, removed by net/http.
	if err := r.ParseMultipartForm(1 << 20); err != nil {
		return badForm(err)
	}
	if !checkCSRF(sess, r.PostFormValue("csrf")) {
		return errBadCSRF
	}
	src, hdr, err := r.FormFile("file")
	if err != nil {
		return withStatus(http.StatusBadRequest, errors.New("choose a file to upload"))
	}
	defer src.Close()
	if hdr.Size > maxUpload {
		return withStatus(http.StatusRequestEntityTooLarge, fmt.Errorf("a file is at most %d MiB", maxUpload>>20))
	}
	name := hdr.Filename
	if n := r.PostFormValue("name"); n != "" {
		name = n
	}
	if name, err = safeFileName(name); err != nil {
		return err
	}

	f, tmp, err := a.spoolUpload(src)
	if err != nil {
		return err
	}
	f.Name, f.UploadedBy, f.Created = name, sess.Username, time.Now().UTC().Truncate(time.Second)
	if f.ContentType = mime.TypeByExtension(filepath.Ext(name)); f.ContentType == "" {
		f.ContentType = f.sniffed
	}
	if a.objects != nil {
		err = a.putObject(r.Context(), tmp, f.File)
	} else {
		err = a.keepBlob(tmp, f.SHA256)
	}
	if err != nil {
		return err
	}
	if err := a.store.AddFile(r.Context(), f.File); err != nil {
		return err // a blob without a row is harmless: same bytes, same blob
	}
	a.log.Info("file uploaded", "name", name, "size", f.Size, "user", sess.Username)
	http.Redirect(w, r, "/upload", http.StatusSeeOther)
	return nil
}

type blob struct {
	File
	sniffed string // content type guessed from the first bytes
}

// spoolUpload writes src to a temporary file in the upload directory,
// hashing it, and returns it open: keepBlob or putObject takes it from
// there, and removes it.
func (a *App) spoolUpload(src io.Reader) (blob, *os.File, error) {
	head := make([]byte, 512)
	n, err := io.ReadFull(src, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return blob{}, nil, fmt.Errorf("read upload: %w", err)
	}
	head = head[:n]

	tmp, err := os.CreateTemp(a.uploadDir, ".upload-*")
	if err != nil {
		return blob{}, nil, fmt.Errorf("store upload: %w", err)
	}
	fail := func(err error) (blob, *os.File, error) {
		tmp.Close()
		os.Remove(tmp.Name())
		return blob{}, nil, err
	}
	if err := tmp.Chmod(0o644); err != nil { // CreateTemp makes it 0600
		return fail(fmt.Errorf("store upload: %w", err))
	}
	h := sha256.New()
	size, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(io.MultiReader(bytes.NewReader(head), src), maxUpload+1))
	if err != nil {
		return fail(fmt.Errorf("store upload: %w", err))
	}
	if size > maxUpload {
		return fail(withStatus(http.StatusRequestEntityTooLarge, fmt.Errorf("a file is at most %d MiB", maxUpload>>20)))
	}
	sum := hex.EncodeToString(h.Sum(nil))
	return blob{File: File{SHA256: sum, Size: size}, sniffed: http.DetectContentType(head)}, tmp, nil
}

// keepBlob moves a spooled upload into the upload directory under its
// SHA-256: fsync, rename, fsync the directory. Names chosen by users
// never reach the file system, and identical bytes share one blob.
func (a *App) keepBlob(tmp *os.File, sum string) error {
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	defer tmp.Close()
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("store upload: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("store upload: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(a.uploadDir, sum)); err != nil {
		return fmt.Errorf("store upload: %w", err)
	}
	if err := syncDir(a.uploadDir); err != nil {
		return fmt.Errorf("store upload: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// file serves an upload. Files never change (names cannot be reused), so
// browsers and the edge may keep them for an hour; the ETag is the
// content hash, and http.ServeContent answers If-None-Match and Range.
func (a *App) file(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if !validFileName(name) {
		return errBadFileName
	}
	f, err := a.store.File(r.Context(), name)
	if err != nil {
		return err
	}
	if a.objects != nil {
		return a.objectFile(w, r, f)
	}
	content, err := os.Open(filepath.Join(a.uploadDir, f.SHA256))
	if err != nil {
		return fmt.Errorf("open upload %q: %w", name, err)
	}
	defer content.Close()
	fileHeaders(w.Header(), f)
	http.ServeContent(w, r, "", f.Created, content)
	return nil
}

// fileHeaders are the fields every answer with an upload's bytes has.
func fileHeaders(h http.Header, f File) {
	h.Set("Content-Type", f.ContentType)
	h.Set("ETag", `"`+f.SHA256+`"`)
	h.Set("Cache-Control", cacheFiles)
	h.Set("Surrogate-Key", "files")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'")
	if d := disposition(f); d != "" {
		h.Set("Content-Disposition", d)
	}
}

// objectFile serves an upload kept in the object store: a redirect to
// its public URL, where the edge serves it from the store (a name's
// object never changes, so the redirect is cached as the file would be);
// else its bytes, read from the store.
func (a *App) objectFile(w http.ResponseWriter, r *http.Request, f File) error {
	if u := a.objects.URL(f.SHA256); u != "" {
		w.Header().Set("Cache-Control", cacheFiles)
		w.Header().Set("Surrogate-Key", "files")
		http.Redirect(w, r, u, http.StatusFound)
		return nil
	}
	if match := r.Header.Get("If-None-Match"); match == `"`+f.SHA256+`"` {
		fileHeaders(w.Header(), f)
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	body, err := a.objects.Open(r.Context(), f.SHA256)
	if err != nil {
		return err
	}
	defer body.Close()
	fileHeaders(w.Header(), f)
	w.Header().Set("Content-Length", strconv.FormatInt(f.Size, 10))
	if r.Method != http.MethodHead {
		if _, err := io.Copy(w, body); err != nil {
			a.log.Warn("upload not sent in full", "name", f.Name, "err", err)
		}
	}
	return nil
}
