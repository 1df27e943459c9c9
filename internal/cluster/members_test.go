package cluster

import (
	"errors"
	"testing"
)

func TestCheckRemoval(t *testing.T) {
	healthy := func(name string) Member { return Member{Name: name, Healthy: true} }
	down := func(name string) Member { return Member{Name: name} }
	learner := Member{Name: "l", Learner: true}
	tests := []struct {
		name    string
		members []Member
		remove  int
		want    error
	}{
		{"healthy member of three", []Member{healthy("a"), healthy("b"), healthy("c")}, 2, nil},
		{"down member of three", []Member{healthy("a"), healthy("b"), down("c")}, 2, nil},
		{"healthy member while another is down", []Member{healthy("a"), healthy("b"), down("c")}, 1, ErrWouldLoseQuorum},
		{"last member", []Member{healthy("a")}, 0, ErrLastMember},
		{"last voter beside a learner", []Member{healthy("a"), learner}, 0, ErrLastMember},
		{"learner", []Member{healthy("a"), learner}, 1, nil},
		{"no quorum", []Member{healthy("a"), down("b"), down("c")}, 1, ErrNoQuorum},
		{"one of two", []Member{healthy("a"), healthy("b")}, 1, nil},
		{"healthy one of two, other down", []Member{healthy("a"), down("b")}, 0, ErrNoQuorum},
		{"down member of five with one more down", []Member{healthy("a"), healthy("b"), healthy("c"), down("d"), down("e")}, 3, nil},
		{"healthy member of five with two down", []Member{healthy("a"), healthy("b"), healthy("c"), down("d"), down("e")}, 0, ErrWouldLoseQuorum},
	}
	for _, tc := range tests {
		err := checkRemoval(tc.members, tc.remove)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: checkRemoval(%s) = %v; want %v", tc.name, tc.members[tc.remove].Name, err, tc.want)
		}
	}
}
