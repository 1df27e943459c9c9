package handover

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/tandem-run/tandem/internal/admin"
	"github.com/tandem-run/tandem/internal/supervise"
)

// TestHandoverStateFile: the state is written private to its owner and
// read back whole; a state of another format is refused.
func TestHandoverStateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), stateFile)
	h := &Handover{st: state{
		Format:    Format,
		Upgrade:   admin.UpgradeStatus{ID: "u1", From: "v1", To: "v2", Binary: "/usr/bin/tandem", Result: admin.UpgradeRunning, Started: time.Now().UTC()},
		Args:      []string{"up", "-f", "/etc/tandem.yaml"},
		Previous:  -1,
		Listeners: map[string]listenerState{},
		Processes: &supervise.Handover{Version: 1, Seq: 7},
		Healthy:   []string{"web-1", "web-3"},
	}}
	if err := h.write(path); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v, %v; want mode 0600", fi.Mode(), err)
	}
	got, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.st, h.st) || !got.Healthy()["web-3"] || got.Healthy()["web-2"] {
		t.Errorf("Open() = %+v; want %+v", got.st, h.st)
	}
	if u := got.Finished(); u.Result != admin.UpgradeSucceeded || u.Finished.IsZero() {
		t.Errorf("Finished() of a taken-over node = %+v; want succeeded, finished", u)
	}
	got.Failed(errors.New("exec: no such file"))
	if u := got.Finished(); u.Result != admin.UpgradeFailed || u.Error != "exec: no such file" {
		t.Errorf("Finished() after Failed = %+v; want failed with the cause", u)
	}
	got.Release(nil)
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state file after Release: %v; want it removed", err)
	}

	h.st.Format = Format + 1
	if err := h.write(path); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path); err == nil {
		t.Error("Open of another format = nil error")
	}
	if h, err := Open(""); h != nil || err != nil {
		t.Errorf(`Open("") = %v, %v; want nothing`, h, err)
	}
}

// TestHandoverListener: a listener handed over serves on, and only for
// the address it was bound for; another address is bound afresh.
func TestHandoverListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	h := &Handover{listeners: map[string]*os.File{}, st: state{Listeners: map[string]listenerState{}}}
	h.Add(ListenerAdmin, f, "127.0.0.1:7070")
	defer h.Close()
	if got, err := h.Listener(ListenerAdmin, "127.0.0.1:7071"); got != nil || err != nil {
		t.Errorf("listener for another address = %v, %v; want none", got, err)
	}
	if got, err := (*Handover)(nil).Listener(ListenerAdmin, "127.0.0.1:7070"); got != nil || err != nil {
		t.Errorf("listener without a handover = %v, %v; want none", got, err)
	}
	got, err := h.Listener(ListenerAdmin, "127.0.0.1:7070")
	if err != nil || got == nil {
		t.Fatalf("listener = %v, %v; want the one handed over", got, err)
	}
	defer got.Close()
	ln.Close() // the original goes away, as in the old binary
	c, err := net.Dial("tcp", got.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	accepted, err := got.Accept()
	if err != nil {
		t.Fatalf("accept on the listener handed over: %v", err)
	}
	accepted.Close()
}

// TestFallBackNeedsAPreviousBinary: a handover that has nothing to fall
// back to (this process's own, after a failed exec) returns the cause.
func TestFallBackNeedsAPreviousBinary(t *testing.T) {
	cause := errors.New("load stack file: no such file")
	if err := (*Handover)(nil).FallBack(cause, nil); err != cause {
		t.Errorf("FallBack without a handover = %v; want the cause", err)
	}
	h := &Handover{st: state{Previous: -1}, path: "/nonexistent"}
	if err := h.FallBack(cause, nil); err != cause {
		t.Errorf("FallBack without a previous binary = %v; want the cause", err)
	}
	h = &Handover{st: state{FellBack: true}, previous: os.Stdin, path: "/nonexistent"}
	if err := h.FallBack(cause, nil); err != cause {
		t.Errorf("FallBack of a state that fell back already = %v; want the cause", err)
	}
}
