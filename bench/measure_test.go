package bench

import (
	"context"
	"os/exec"
	"testing"
)

func TestMeasureReportsTheExitStatusAndUsage(t *testing.T) {
	t.Parallel()
	u, err := Measure(context.Background(), exec.Command("sh", "-c", "exit 3"))
	if err != nil {
		t.Fatal(err)
	}
	if u.ExitCode != 3 || u.Wall <= 0 || u.MaxRSS <= 0 {
		t.Errorf("usage %+v, want exit 3, a wall time and a peak RSS", u)
	}
	if _, err := Measure(context.Background(), exec.Command("/nonexistent/fleetbench-child")); err == nil {
		t.Errorf("a child that cannot start is not an error")
	}
}

func TestMeasureKillsTheChildWhenTheContextEnds(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.Command("sh", "-c", "echo started; exec sleep 600")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := Measure(ctx, cmd)
		done <- err
	}()
	buf := make([]byte, 8)
	if _, err := out.Read(buf); err != nil { // the child runs
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err == nil {
		t.Errorf("Measure returned no error after the context ended")
	}
}
