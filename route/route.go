// Package route chooses, in one place, the transport that reaches each
// host: the Dialer that opens a host's session over WinRM or AWS SSM by
// the host's inventory transport, and the pure rendering of a step as that
// transport sends it (for plans).
//
// It is wiring between the inventory and the transports; the runner and
// pre-flight receive what it builds and never ask which transport a host
// uses.
package route

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/launcher"
	"github.com/fleetrun/fleetrun/runner"
	"github.com/fleetrun/fleetrun/ssm"
	"github.com/fleetrun/fleetrun/transport"
	"github.com/fleetrun/fleetrun/winrm"
)

// Transport names, as an inventory's transport: key gives them.
const (
	WinRM = "winrm"
	SSM   = "ssm"
)

// Renderer returns the transports' pure rendering of remote commands, for
// plans: for WinRM exactly what goes into WinRS's Command and Arguments,
// for SSM the document and the script it runs; and the command line an argv
// step's program receives.
func Renderer() runner.Renderer {
	return func(h *inventory.Host, c transport.Command) (runner.Rendering, error) {
		if h.Transport == SSM {
			if c.Kind.IsFile() {
				return renderSSMFile(h, c), nil
			}
			return renderSSM(h, c)
		}
		rc, cl, note, err := winrm.PlanStep(c)
		if c.Kind.IsFile() {
			return winrmFile(c, rc, err), nil
		}
		// WinRM sessions take a host's consecutive steps in one launch.
		return runner.Rendering{RemoteCommand: rc, CommandLine: cl, Note: note, StepRuns: true}, err
	}
}

// winrmFile is a file step's rendering over WinRM. The runner's note says
// what the step moves, so the transport's own account of it is left out;
// what remains is how it travels. A rendering that failed leaves the plan
// without the wire form but still saying what would move.
func winrmFile(c transport.Command, rc []string, err error) runner.Rendering {
	if err != nil {
		return runner.Rendering{Note: "the WinRM transport cannot show this step's remote command: " + err.Error()}
	}
	rd := runner.Rendering{RemoteCommand: rc}
	if c.Copy != nil && len(c.Copy.Files) > 1 {
		rd.Note = fmt.Sprintf("one command per file, %d in all; remote_command is the first file's, its bytes sent on stdin", len(c.Copy.Files))
	}
	return rd
}

// renderSSMFile says how a file step travels over SSM, which sends no
// file bytes through the agent: a copy is uploaded to the inventory's
// transfer bucket once and every host downloads it; a fetch is not
// supported yet.
func renderSSMFile(h *inventory.Host, c transport.Command) runner.Rendering {
	switch c.Kind {
	case transport.KindCopy:
		return runner.Rendering{Note: "over SSM the controller uploads each source once to the inventory's S3 transfer bucket (ssm: {transfer_bucket: ...}) and the host downloads it; without that bucket the step fails with class config"}
	case transport.KindDownload:
		return runner.Rendering{Note: "over SSM the host downloads through the agent (an s3:// URL is presigned by the controller)"}
	}
	return runner.Rendering{Note: "fetch is not supported over SSM yet: the step fails with class config"}
}

func renderSSM(h *inventory.Host, c transport.Command) (runner.Rendering, error) {
	p, err := launcher.Build(c)
	if err != nil {
		return runner.Rendering{}, err
	}
	doc := h.SSM.Document
	if doc == "" {
		doc = ssm.DefaultDocument
	}
	rd := runner.Rendering{RemoteCommand: []string{doc, launcher.SSMScript(p.B64)}, CommandLine: p.CommandLine}
	if c.RunAs == transport.RunAsSystem {
		rd.Note = "run_as: system changes nothing over SSM: the SSM agent runs every step as SYSTEM already"
	}
	return rd, nil
}

// Options tune the Dialer.
type Options struct {
	// OutputCap bounds the output each step keeps in memory (both
	// transports).
	OutputCap int
	// LookupEnv reads the environment variables the SSM transport decides
	// on (endpoint overrides, AWS_REGION).
	LookupEnv func(string) (string, bool)
	// WinRM, when set, replaces the WinRM dialer (tests).
	WinRM transport.Dialer
	// SSM, when set, replaces the SSM options derived from the above
	// (tests); OutputCap and LookupEnv are not applied to it.
	SSM *ssm.Options
}

// Dialer reaches each host by its inventory transport; it implements
// transport.Dialer. Close it after the run.
type Dialer struct {
	transportOf map[string]string // host name → winrm or ssm
	winrm       transport.Dialer
	winrmOpts   winrm.Options
	kerberos    *winrm.KerberosCredentials
	ssm         *ssm.Dialer // nil when no host uses SSM
}

var _ transport.Dialer = (*Dialer)(nil)

// NewDialer returns the Dialer for hosts. It calls no API and opens no
// connection. When every SSM host is simulated, the SSM transport signs
// with placeholder credentials: a simulated fleet's endpoint checks no
// signatures and must not receive the operator's real AWS credentials.
func NewDialer(hosts []*inventory.Host, opts Options) *Dialer {
	d := &Dialer{transportOf: map[string]string{}, winrm: opts.WinRM}
	if d.winrm == nil {
		// One Kerberos logon per run, shared by every WinRM host: the
		// ticket cache and krb5.conf are the ones MIT's kinit uses
		// (KRB5CCNAME, KRB5_CONFIG).
		d.kerberos = &winrm.KerberosCredentials{CCache: envOf(opts.LookupEnv, "KRB5CCNAME")}
		d.winrmOpts = winrm.Options{OutputCap: opts.OutputCap, Kerberos: d.kerberos,
			Krb5Config: envOf(opts.LookupEnv, "KRB5_CONFIG")}
		d.winrm = winrm.NewDialer(d.winrmOpts)
	}
	anySSM, simulatedOnly := false, true
	for _, h := range hosts {
		d.transportOf[h.Name] = h.Transport
		if h.Transport == SSM {
			anySSM = true
			simulatedOnly = simulatedOnly && h.Simulated
		}
	}
	if !anySSM {
		return d
	}
	so := ssm.Options{LookupEnv: opts.LookupEnv, OutputCap: opts.OutputCap}
	if simulatedOnly {
		so.Credentials = credentials.NewStaticCredentialsProvider("SIMULATED", "SIMULATED", "")
	}
	if opts.SSM != nil {
		so = *opts.SSM
	}
	d.ssm = ssm.NewDialer(so)
	return d
}

// WinRMOptions are the options of the WinRM sessions the dialer opens,
// with the run's shared Kerberos logon (the ticket cache and krb5.conf of
// the environment), for callers that open WinRM sessions themselves
// (pre-flight's checks). They are zero when Options.WinRM replaced the
// WinRM dialer.
func (d *Dialer) WinRMOptions() winrm.Options { return d.winrmOpts }

// Dial implements transport.Dialer: it opens the session with the
// transport the host's inventory names (WinRM unless it says ssm).
func (d *Dialer) Dial(ctx context.Context, t transport.Target) (transport.Session, error) {
	if d.transportOf[t.Name] == SSM {
		return d.ssm.Dial(ctx, t)
	}
	return d.winrm.Dial(ctx, t)
}

// Close releases the SSM transport's coordinators (queued commands fail
// as interrupted; every goroutine it started has returned).
func (d *Dialer) Close() error {
	d.kerberos.Close()
	if d.ssm != nil {
		return d.ssm.Close()
	}
	return nil
}

// envOf reads a variable through lookup (nil reads nothing). A ticket
// cache named "FILE:path" is the file path.
func envOf(lookup func(string) (string, bool), name string) string {
	if lookup == nil {
		return ""
	}
	v, _ := lookup(name)
	return strings.TrimPrefix(v, "FILE:")
}
