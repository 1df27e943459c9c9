package edge

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
)

// bodyFiles lists the descriptors of this process open on files under
// dir, removed or not: how a temp file still held shows.
func bodyFiles(t *testing.T, dir string) []string {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	var held []string
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(target, dir+"/") {
			held = append(held, target)
		}
	}
	return held
}

// TestLargeBodyGoesToATempFile: a body over the memory buffer is held in
// a temp file with no name, which the app's request reads through and
// which is gone when the request ends; the app gets a Content-Length.
func TestLargeBodyGoesToATempFile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		var during []string
		var names []os.DirEntry
		app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			during, names = bodyFiles(t, dir), nil
			names, _ = os.ReadDir(dir)
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%d %d %v", len(b), r.ContentLength, strings.Count(string(b), "x") == len(b))
		})
		b := startBubble(t, app, func(o *Options) { o.BodyBuffer, o.BodyTempDir = 1<<10, dir })
		defer b.close()
		body := strings.Repeat("x", 300<<10)
		chunked := fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(body), body)
		resp, c := b.exchange(t, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"+chunked)
		c.Close()
		want := fmt.Sprintf("%d %d true", len(body), len(body))
		if got := text(resp); resp.StatusCode != 200 || got != want {
			t.Errorf("POST of 300 KiB: %d %q; want 200 %q", resp.StatusCode, got, want)
		}
		if len(during) != 1 || !strings.HasSuffix(during[0], " (deleted)") || len(names) != 0 {
			t.Errorf("while the app read it: open files %q, names in the dir %v; want one removed file, no names", during, names)
		}
		synctest.Wait()
		if held := bodyFiles(t, dir); len(held) != 0 {
			t.Errorf("after the request: files still open %q", held)
		}
		if m, d := b.edge.bodies.memory.used.Load(), b.edge.bodies.disk.used.Load(); m != 0 || d != 0 {
			t.Errorf("after the request: %d bytes of memory and %d of disk held; want 0", m, d)
		}
	})
}

// TestAbortedUploadLeavesNothing: a client that leaves in the middle of a
// large body leaves no file, no memory taken, and a 499.
func TestAbortedUploadLeavesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		app := new(echoLength)
		b := startBubble(t, app, func(o *Options) { o.BodyBuffer, o.BodyTempDir = 1<<10, dir })
		defer b.close()
		c := b.dial(t)
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n"+strings.Repeat("x", 200<<10))
		synctest.Wait()
		if held := bodyFiles(t, dir); len(held) != 1 {
			t.Fatalf("while the body arrives: files open %q; want one", held)
		}
		c.Close()
		synctest.Wait()
		if held := bodyFiles(t, dir); len(held) != 0 {
			t.Errorf("after the client left: files still open %q", held)
		}
		if m, d := b.edge.bodies.memory.used.Load(), b.edge.bodies.disk.used.Load(); m != 0 || d != 0 {
			t.Errorf("after the client left: %d bytes of memory and %d of disk held; want 0", m, d)
		}
		if n := app.entered.Load(); n != 0 {
			t.Errorf("the app was handed %d aborted upload(s)", n)
		}
		if l := b.log.lines(); len(l) != 1 || l[0].Status != 499 {
			t.Errorf("access log %+v; want one line with 499", l)
		}
	})
}

// TestNoRoomForTheBodyIs507: a full disk (writes to /dev/full fail with
// ENOSPC, as a full file system's do) and a spent disk budget answer 507,
// logged once, and leave the edge serving.
func TestNoRoomForTheBodyIs507(t *testing.T) {
	tests := []struct {
		name string
		mod  func(st *bodyStore)
	}{
		{"disk full", func(st *bodyStore) {
			st.createTemp = func(string) (*os.File, error) { return os.OpenFile("/dev/full", os.O_RDWR, 0) }
		}},
		{"disk budget spent", func(st *bodyStore) { st.disk.limit = 10 << 10 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				app := new(echoLength)
				b := startBubble(t, app, func(o *Options) { o.BodyBuffer, o.BodyTempDir = 1<<10, t.TempDir() })
				defer b.close()
				tt.mod(b.edge.bodies)
				for range 3 {
					resp, c := b.exchange(t, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 65536\r\n\r\n"+strings.Repeat("x", 64<<10))
					c.Close()
					if resp.StatusCode != http.StatusInsufficientStorage || !resp.Close {
						t.Errorf("POST with no room for its body: %d, close %v; want 507 and close", resp.StatusCode, resp.Close)
					}
				}
				resp, c := b.exchange(t, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nsmall")
				c.Close()
				if got := text(resp); resp.StatusCode != 200 || got != `5 5 []` {
					t.Errorf("small POST after: %d %q; want 200, held in memory", resp.StatusCode, got)
				}
				synctest.Wait()
				if n := strings.Count(b.events.b.String(), "edge cannot buffer request body"); n != 1 {
					t.Errorf("%d log lines for 3 bodies with no room; want 1:\n%s", n, b.events.b.String())
				}
				if st := b.edge.Bodies(); st.Disk != 0 || st.Memory != 0 || st.Refused != 3 {
					t.Errorf("Bodies() = %+v; want nothing held, 3 refused", st)
				}
			})
		})
	}
}

// TestMemoryBudgetSpillsToDisk: with the memory for all bodies spent, a
// small body goes to a temp file rather than failing.
func TestMemoryBudgetSpillsToDisk(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		var onDisk int
		app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			onDisk = len(bodyFiles(t, dir))
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%d", len(b))
		})
		b := startBubble(t, app, func(o *Options) { o.BodyMemory, o.BodyTempDir = 1<<10, dir })
		defer b.close()
		resp, c := b.exchange(t, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\n\r\n"+strings.Repeat("x", 2000))
		c.Close()
		if got := text(resp); resp.StatusCode != 200 || got != "2000" || onDisk != 1 {
			t.Errorf("POST of 2000 bytes with 1 KiB for all bodies: %d %q, %d file(s); want 200 \"2000\" from a temp file", resp.StatusCode, got, onDisk)
		}
		if st := b.edge.Bodies(); st.Spilled != 1 {
			t.Errorf("Bodies() = %+v; want 1 spilled", st)
		}
	})
}

// TestBufferedBodyReplays: the body handed on can be read again from the
// start (GetBody, Seek), in memory and from a file, and not at all once
// its request ended.
func TestBufferedBodyReplays(t *testing.T) {
	for _, size := range []int{1000, 100 << 10} {
		t.Run(strconv.Itoa(size), func(t *testing.T) {
			o := Options{BodyTempDir: t.TempDir()}
			setDefaults(&o)
			o.BodyBuffer = 4 << 10
			var bufs bufferPool
			st := newBodyStore(&o, &bufs)
			want := strings.Repeat("0123456789", size/10)
			b, err := st.read(strings.NewReader(want), -1)
			if err != nil {
				t.Fatal(err)
			}
			r, _ := http.NewRequest("POST", "http://x/", nil)
			r.Header.Set("Expect", "100-continue")
			b.attach(r)
			if r.ContentLength != int64(size) || r.Header.Get("Expect") != "" {
				t.Errorf("attach: ContentLength %d, Expect %q; want %d, none", r.ContentLength, r.Header.Get("Expect"), size)
			}
			read := func(rc io.Reader) string {
				got, err := io.ReadAll(rc)
				if err != nil {
					t.Fatal(err)
				}
				return string(got)
			}
			if got := read(r.Body); got != want {
				t.Errorf("Body read %d bytes; want the %d sent", len(got), size)
			}
			again, _ := r.GetBody()
			if got := read(again); got != want {
				t.Errorf("GetBody read %d bytes; want the %d sent", len(got), size)
			}
			if _, err := r.Body.(io.Seeker).Seek(5, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			if got := read(r.Body); got != want[5:] {
				t.Errorf("after Seek(5): read %d bytes; want %d", len(got), size-5)
			}
			b.release()
			b.release()
			if _, err := again.Read(make([]byte, 1)); !errors.Is(err, errBodyReleased) {
				t.Errorf("Read after release = %v; want errBodyReleased", err)
			}
			if m, d := st.memory.used.Load(), st.disk.used.Load(); m != 0 || d != 0 {
				t.Errorf("after release: %d bytes of memory, %d of disk taken; want 0", m, d)
			}
		})
	}
}
