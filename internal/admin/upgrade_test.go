package admin

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// recordingUpgrader accepts every upgrade and keeps the last request.
type recordingUpgrader struct{ got chan UpgradeRequest }

func (u recordingUpgrader) Upgrade(_ context.Context, req UpgradeRequest) (UpgradeStatus, error) {
	u.got <- req
	if req.Binary == "/bad" {
		return UpgradeStatus{}, Errorf(ErrBadRequest, "binary /bad: not a tandem binary")
	}
	return UpgradeStatus{ID: "u1", From: "v1", To: "v2", Binary: req.Binary, Result: UpgradeRunning}, nil
}

// TestUpgradeEndpoint: an upgrade needs the admin scope, is audited with
// what it asked for, and answers 202 with the upgrade; the upgrader's
// refusal is the client's error.
func TestUpgradeEndpoint(t *testing.T) {
	up := recordingUpgrader{got: make(chan UpgradeRequest, 1)}
	ts := startAuthServer(t, Options{Upgrade: up})
	deploy := ts.client(ts.issue("ci", 0, ScopeDeploy))
	if _, err := deploy.Upgrade(t.Context(), UpgradeRequest{Binary: "/usr/bin/tandem"}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("upgrade with a deploy token = %v; want ErrForbidden", err)
	}
	root := ts.client(ts.root)
	st, err := root.Upgrade(t.Context(), UpgradeRequest{Binary: "/opt/tandem-2", Drain: 3 * time.Second})
	if err != nil || st.ID != "u1" || st.To != "v2" || st.Result != UpgradeRunning {
		t.Fatalf("Upgrade() = %+v, %v; want the running upgrade u1 to v2", st, err)
	}
	if req := <-up.got; req.Who != "token root" || req.Drain != 3*time.Second {
		t.Errorf("upgrader got %+v; want the caller's token named and the drain", req)
	}
	resp, _ := ts.do(http.MethodPost, "/v1/upgrade", "Bearer "+ts.root, `{"binary":"/x"}`)
	<-up.got
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("POST /v1/upgrade = %d; want 202", resp.StatusCode)
	}
	if _, err := root.Upgrade(t.Context(), UpgradeRequest{Binary: "/bad"}); err == nil || !strings.Contains(err.Error(), "not a tandem binary (HTTP 400)") {
		t.Errorf("refused upgrade = %v; want a 400 saying why", err)
	}
	<-up.got
	entries, err := ts.audit.Tail(20)
	if err != nil {
		t.Fatal(err)
	}
	var summaries []string
	for _, e := range entries {
		if e.Path == "/v1/upgrade" && e.Outcome == OutcomeStarted {
			summaries = append(summaries, e.Summary)
		}
	}
	if len(summaries) != 3 || summaries[0] != "binary=/opt/tandem-2 drain=3s" {
		t.Errorf("audited upgrades: %q; want 3, the first saying binary and drain", summaries)
	}
}

// TestRefuseChanges: while the API refuses changes, every call that would
// change something answers 409 saying why (and is audited), reads go on,
// and changes work again after Refuse(nil).
func TestRefuseChanges(t *testing.T) {
	up := recordingUpgrader{got: make(chan UpgradeRequest, 1)}
	s := startAuthServer(t, Options{Upgrade: up, Deploys: fakeDeployer{}})
	srv := s.srv
	srv.Refuse(errors.New("this node is being upgraded"))
	root := s.client(s.root)
	_, err := root.Upgrade(t.Context(), UpgradeRequest{})
	if err == nil || !strings.Contains(err.Error(), "this node is being upgraded (HTTP 409)") {
		t.Fatalf("upgrade while refusing = %v; want a conflict saying why", err)
	}
	if _, err := root.Status(t.Context()); err != nil {
		t.Errorf("status while refusing changes = %v; want it answered", err)
	}
	entries, _ := s.audit.Tail(5)
	if last := entries[len(entries)-1]; last.Path != "/v1/upgrade" || last.Status != http.StatusConflict || last.Outcome != OutcomeFailed {
		t.Errorf("last audit entry = %+v; want the refused upgrade, 409", last)
	}
	srv.Refuse(nil)
	if _, err := root.Upgrade(t.Context(), UpgradeRequest{}); err != nil {
		t.Errorf("upgrade after Refuse(nil) = %v", err)
	}
	<-up.got
}
