package supervise

import (
	"context"
	"fmt"
)

// RunOnce runs spec's command a single time, in its own process group and
// cgroup like any instance, and returns how it ended. When ctx ends first,
// the process gets the stop signal and, after Spec.StopGrace, SIGKILL; the
// error then wraps ctx's. Output goes to the log and to Spec.Output. A
// process that could not be started is an error; one that exits with a
// non-zero code is not: the caller reads Exit.
func (s *Supervisor) RunOnce(ctx context.Context, spec Spec) (Exit, error) {
	spec.Once = true
	in, err := s.Start(ctx, spec)
	if err != nil {
		return Exit{}, err
	}
	select {
	case <-in.Done():
	case <-ctx.Done():
		in.requestStop()
		<-in.Done()
	}
	st := in.Status()
	if st.LastExit == nil {
		return Exit{}, fmt.Errorf("run %s: no exit recorded", spec.Name)
	}
	ex := *st.LastExit
	switch {
	case ex.Requested && ctx.Err() != nil:
		return ex, fmt.Errorf("run %s: %w", spec.Name, ctx.Err())
	case ex.Requested:
		return ex, fmt.Errorf("run %s: %w", spec.Name, ErrClosed)
	}
	return ex, nil
}
