package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// CPUTimes is the machine-wide CPU time of /proc/stat's "cpu" line, in
// USER_HZ ticks: busy (everything but idle and iowait) and in total.
type CPUTimes struct {
	Busy, Total uint64
}

// ReadCPUTimes reads /proc/stat.
func ReadCPUTimes() (CPUTimes, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return CPUTimes{}, fmt.Errorf("machine cpu: %w", err)
	}
	return ParseCPUTimes(data)
}

// ParseCPUTimes reads the aggregate "cpu" line of /proc/stat: user nice
// system idle iowait irq softirq steal (guest time is already counted in
// user).
func ParseCPUTimes(data []byte) (CPUTimes, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] != "cpu" {
			continue
		}
		if len(f) < 5 {
			return CPUTimes{}, fmt.Errorf("proc stat: cpu line with %d fields", len(f))
		}
		var t CPUTimes
		for i, s := range f[1:min(len(f), 9)] {
			n, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return CPUTimes{}, fmt.Errorf("proc stat: cpu field %q: %w", s, err)
			}
			if t.Total+n < t.Total {
				return CPUTimes{}, errors.New("proc stat: cpu times overflow")
			}
			t.Total += n
			if i != 3 && i != 4 { // idle, iowait
				t.Busy += n
			}
		}
		return t, nil
	}
	return CPUTimes{}, errors.New("proc stat: no cpu line")
}

// Sub is the CPU time spent between two readings.
func (t CPUTimes) Sub(earlier CPUTimes) CPUTimes {
	if t.Busy < earlier.Busy || t.Total < earlier.Total {
		return CPUTimes{}
	}
	return CPUTimes{Busy: t.Busy - earlier.Busy, Total: t.Total - earlier.Total}
}

// BusyShare is the share of the machine's CPU time that was busy, 0 to 1.
func (t CPUTimes) BusyShare() float64 {
	if t.Total == 0 {
		return 0
	}
	return float64(t.Busy) / float64(t.Total)
}

// BusyTime is the busy CPU time as a duration.
func (t CPUTimes) BusyTime() time.Duration { return ticksDuration(t.Busy) }

// Quiet says how long to wait, before each measured run, for work of
// other processes to die down. The zero value does not wait.
type Quiet struct {
	// Limit is the busy share of the machine (0 to 1) below which it
	// counts as quiet, measured over Window.
	Limit float64
	// Window is one measurement (default 1 s).
	Window time.Duration
	// MaxWait bounds one wait; Budget all of them together.
	MaxWait, Budget time.Duration

	spent time.Duration
}

// Wait measures the machine's busy share over windows until it is below
// the limit, the wait or the budget is spent, or ctx ends, and returns
// the last share measured (-1 when it cannot be read).
func (q *Quiet) Wait(ctx context.Context) float64 {
	if q.Limit <= 0 {
		return -1
	}
	window := q.Window
	if window <= 0 {
		window = time.Second
	}
	start := time.Now()
	share := -1.0
	for {
		before, err := ReadCPUTimes()
		if err != nil {
			return -1
		}
		t := time.NewTimer(window)
		select {
		case <-ctx.Done():
			t.Stop()
			return share
		case <-t.C:
		}
		after, err := ReadCPUTimes()
		if err != nil {
			return -1
		}
		share = after.Sub(before).BusyShare()
		waited := time.Since(start)
		if share < q.Limit || waited >= q.MaxWait || q.spent+waited >= q.Budget {
			q.spent += waited
			return share
		}
	}
}
