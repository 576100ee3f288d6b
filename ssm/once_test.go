package ssm_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awsssm "github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/playbook"
	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/sim"
	"github.com/fleetrun/fleetrun/ssm"
	"github.com/fleetrun/fleetrun/transport"
)

// oncePlaybook has a step every host shares a command for, one whose exit
// code is checked, and a templated one that sends a command per host.
// Retries are allowed, so a lost answer surfacing as a transport failure
// would show as a second attempt.
const oncePlaybook = `
name: once
defaults:
  retries: 2
  retry_delay: 10ms
steps:
  - name: who
    command: [hostname]
  - name: exit three
    command: ['C:\tools\exitcode.exe', '3']
    expect_exit: [3]
  - name: greet
    powershell: Write-Output 'hello {{ .host.name }}'
`

const onceHosts = 6

// runOnce applies oncePlaybook over SSM to a fleet whose endpoint has the
// given faults, checks every host's report and returns the fleet and the
// dialer's counters.
func runOnce(t *testing.T, faults []sim.SSMFault, opts ssm.Options) (*sim.Fleet, ssm.Stats) {
	t.Helper()
	f, hosts := startFleet(t, onceHosts, "", sim.FleetOptions{SSMFaults: faults})
	pb, err := playbook.Parse("once.yaml", []byte(oncePlaybook))
	if err != nil {
		t.Fatal(err)
	}
	d := newDialer(t, opts)
	for _, h := range hosts {
		h.Transport = "ssm"
	}
	res, err := runner.Run(context.Background(), pb, hosts, runner.Options{
		Dialer: d,
		Target: func(ctx context.Context, h *inventory.Host) (transport.Target, error) {
			tg, err := runner.TargetOf(ctx, h, func(string) (string, bool) { return "", false })
			return tg, err
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range res.Hosts {
		if h.Status != runner.StatusOK || len(h.Steps) != 3 {
			t.Errorf("%s: %s with %d steps (%v)", h.Name, h.Status, len(h.Steps), h.FailedStep())
			continue
		}
		for i, want := range []struct {
			code   uint32
			stdout string
		}{{0, h.Name}, {3, ""}, {0, "hello " + h.Name}} {
			s := h.Steps[i]
			if s.Status != runner.StatusOK || s.Attempts != 1 || s.ExitCode == nil || *s.ExitCode != want.code || !strings.Contains(s.Stdout, want.stdout) {
				t.Errorf("%s step %q: %s after %d attempts, exit %v, stdout %q; want ok after 1 attempt, exit %d, stdout with %q",
					h.Name, s.Name, s.Status, s.Attempts, s.ExitCode, s.Stdout, want.code, want.stdout)
			}
		}
	}
	// Each instance ran each step once: three invocations per instance,
	// and on each host each step's program once.
	st := f.SSMStats()
	for _, h := range f.Hosts() {
		if n := st.InstanceInvocations[f.InstanceID(h)]; n != 3 {
			t.Errorf("%s: %d invocations, want 3 (one per step)", h.Name(), n)
		}
		progs := h.Stats().Programs
		for _, p := range []string{"hostname.exe", "exitcode.exe", "fleetrun-ssm-shim"} {
			want := int64(1)
			if p == "fleetrun-ssm-shim" {
				want = 3
			}
			if progs[p] != want {
				t.Errorf("%s: %s ran %d times, want %d", h.Name(), p, progs[p], want)
			}
		}
	}
	if st.Invocations != 3*onceHosts {
		t.Errorf("the endpoint created %d invocations, want %d", st.Invocations, 3*onceHosts)
	}
	checkComments(t, f)
	return f, d.Stats()
}

// commentRE is the Comment of a command of oncePlaybook.
var commentRE = regexp.MustCompile(`^fleetrun [0-9a-f]{12} (who|exit three|greet) #[0-9]+$`)

// checkComments lists the fleet's commands as any SSM client would and
// checks that each Comment names the run and the step and is unique.
func checkComments(t *testing.T, f *sim.Fleet) {
	t.Helper()
	c := awsssm.New(awsssm.Options{Region: f.SSMRegion(), BaseEndpoint: aws.String(f.SSMEndpoint()),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDSIMULATED", "simulated", "")})
	seen := map[string]bool{}
	for p := awsssm.NewListCommandsPaginator(c, &awsssm.ListCommandsInput{}); p.HasMorePages(); {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("ListCommands: %v", err)
		}
		for _, cmd := range page.Commands {
			comment := aws.ToString(cmd.Comment)
			if !commentRE.MatchString(comment) || seen[comment] {
				t.Errorf("command %s: comment %q is not a fresh %v", aws.ToString(cmd.CommandId), comment, commentRE)
			}
			seen[comment] = true
		}
	}
}

// A SendCommand AWS carried out but whose answer fleetrun never got must
// not be sent again: the command is found by its Comment and adopted.
func TestAStepWhoseSendCommandAnswerIsLostRunsOnce(t *testing.T) {
	t.Parallel()
	for _, answer := range []sim.SSMFaultAnswer{sim.SSMDropConnection, sim.SSMInternalError, sim.SSMLateAnswer} {
		t.Run(fmt.Sprintf("answer %s", answer), func(t *testing.T) {
			t.Parallel()
			opts := options(t)
			// The late answer comes only once the client has given up,
			// whatever this is; it is the time each command costs here.
			opts.AnswerTimeout = 500 * time.Millisecond
			// Every SendCommand creates its command and loses its answer.
			f, st := runOnce(t, []sim.SSMFault{{Action: "SendCommand", Answer: answer}}, opts)
			api := f.SSMStats()
			if api.Calls["SendCommand"] != st.Commands || api.Faulted["SendCommand"] != st.Commands {
				t.Errorf("%d SendCommand calls, %d answers lost, for %d commands: want one call per command, each lost",
					api.Calls["SendCommand"], api.Faulted["SendCommand"], st.Commands)
			}
			if st.Adopted != st.Commands || st.Resent != 0 || api.Calls["ListCommands"] < st.Commands {
				t.Errorf("dialer stats %+v, %d ListCommands calls: want every command adopted after a lookup, none sent again", st, api.Calls["ListCommands"])
			}
		})
	}
}

// A SendCommand that failed before AWS created anything is sent again
// (with the same Comment) once ListCommands shows it created nothing.
func TestASendCommandThatCreatedNothingIsSentAgain(t *testing.T) {
	t.Parallel()
	for _, answer := range []sim.SSMFaultAnswer{sim.SSMDropConnection, sim.SSMInternalError} {
		t.Run(fmt.Sprintf("answer %s", answer), func(t *testing.T) {
			t.Parallel()
			f, st := runOnce(t, []sim.SSMFault{{Action: "SendCommand", Answer: answer, NotCarriedOut: true, Times: 2}}, options(t))
			api := f.SSMStats()
			if st.Resent != 2 || st.Adopted != 0 || api.Calls["SendCommand"] != st.Commands+2 {
				t.Errorf("dialer stats %+v, %d SendCommand calls: want two sent again, none adopted", st, api.Calls["SendCommand"])
			}
		})
	}
}

// When the answer is lost and ListCommands cannot say whether the command
// exists, the step fails as something that may have run: not transient,
// so the runner does not try it again.
func TestAStepWhoseCommandCannotBeLookedUpIsNotSentAgain(t *testing.T) {
	t.Parallel()
	f, hosts := startFleet(t, 2, "", sim.FleetOptions{SSMFaults: []sim.SSMFault{
		{Action: "SendCommand", Answer: sim.SSMDropConnection},
		{Action: "ListCommands", Answer: sim.SSMInternalError},
	}})
	// One command for both hosts, sent when both have joined it.
	opts := options(t)
	opts.MaxBatch, opts.BatchWindow = len(hosts), time.Minute
	d := newDialer(t, opts)
	var targets []transport.Target
	for _, h := range hosts {
		targets = append(targets, target(t, h))
	}
	_, errs := runAll(t, d, targets, func(int) transport.Command {
		return transport.Command{Name: "who", Kind: transport.KindArgv, Argv: []string{"hostname"}}
	})
	for i, err := range errs {
		te := transport.Classify(err)
		if te.Class != transport.ClassInternal || te.Transient || !strings.Contains(te.Message, "may be running") || !strings.Contains(te.Hint, "fleetrun ") {
			t.Errorf("host %d: %v (transient %v, hint %q); want class internal, not transient, naming the comment", i, err, te.Transient, te.Hint)
		}
	}
	api := f.SSMStats()
	if api.Calls["SendCommand"] != 1 || api.Invocations != 2 {
		t.Errorf("%d SendCommand calls, %d invocations; want the command sent once", api.Calls["SendCommand"], api.Invocations)
	}
}
