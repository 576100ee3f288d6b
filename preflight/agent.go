package preflight

import (
	"context"
	"fmt"
	"time"

	"github.com/fleetrun/fleetrun/transport"
)

// transportSSM is the inventory transport whose hosts are checked through
// their agent (Options.Dialer) rather than over WinRM.
const transportSSM = "ssm"

// notOverSSMQuota is the word a WinRM quota check gets on an SSM host.
const notOverSSMQuota = "not checked over SSM: WinRM quotas (MaxMemoryPerShellMB, MaxShellsPerUser, ...) do not limit SSM commands"

// viaAgent reports whether the host is reached through an agent (SSM),
// not over WinRM.
func (c *checker) viaAgent() bool { return c.host.Transport == transportSSM }

// runViaAgent checks a host reached through SSM, opening no WinRM
// connection: reachability is the agent being online (and when it last
// pinged), as the transport learns it from DescribeInstanceInformation;
// TLS, authentication and WinRM quotas are not SSM's and are skipped with
// a word; the operating system is the one the agent reports; PowerShell,
// disk, execution policies, the token and the Task Scheduler come from the
// same script as over WinRM, run as an SSM command.
func (c *checker) runViaAgent(ctx context.Context, rest []string) {
	var sess transport.Session
	var agent transport.AgentInfo
	reached := c.step(CheckReach, func() Check {
		var err error
		sess, err = c.dialAgent(ctx)
		if err != nil {
			te := transport.Classify(err)
			return Check{Status: Fail, Class: te.Class, Detail: te.Message, Fix: te.Hint}
		}
		if ar, ok := sess.(transport.AgentReporter); ok {
			agent = ar.Agent()
		}
		return Check{Status: Pass, Detail: c.agentDetail(agent)}
	})
	if reached.Status == Fail {
		c.skipFrom(rest, "SSM agent not reachable")
		return
	}
	defer func() { c.closeSession(ctx, sess) }()
	c.step(CheckTLS, func() Check {
		return Check{Status: Skipped, Detail: "not used over SSM: no connection is made to the host; its agent reaches AWS over HTTPS"}
	})
	c.step(CheckAuth, func() Check {
		return Check{Status: Skipped, Detail: "not used over SSM: AWS credentials and IAM authorise the commands"}
	})
	c.step(CheckLimits, func() Check { return Check{Status: Skipped, Detail: notOverSSMQuota} })
	c.step(CheckOS, func() Check {
		if agent.Platform == "" {
			return Check{Status: Warn, Detail: "the SSM agent reports no platform"}
		}
		return Check{Status: Pass, Detail: agent.Platform + " (as the SSM agent reports it)"}
	})
	c.powershell(ctx, sess)
	c.adminToken()
	c.taskScheduler()
	c.verdict()
}

func (c *checker) dialAgent(ctx context.Context) (transport.Session, error) {
	if c.opts.Dialer == nil {
		return nil, &transport.Error{Class: transport.ClassInternal, Message: fmt.Sprintf("%s: no dialer for transport %s", c.host.Name, c.host.Transport)}
	}
	t, err := c.opts.Target(ctx, c.host)
	if err != nil {
		return nil, &transport.Error{Class: transport.ClassAuth, Message: err.Error(), Err: err}
	}
	return c.opts.Dialer.Dial(ctx, t)
}

// agentDetail says what the service knew of the agent: its status, when it
// last pinged (and how long before the check) and its version.
func (c *checker) agentDetail(a transport.AgentInfo) string {
	if a.Service == "" {
		return "reached through its agent"
	}
	d := fmt.Sprintf("%s agent of %s %s", a.Service, a.ID, a.PingStatus)
	if !a.LastPing.IsZero() {
		ago := max(c.opts.Now().Sub(a.LastPing), 0).Round(time.Second)
		d += fmt.Sprintf(", last ping %s (%s before the check)", a.LastPing.UTC().Format(time.RFC3339), ago)
	}
	if a.Version != "" {
		d += ", agent " + a.Version
	}
	return d
}
