package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/fleetrun/fleetrun/internal/kdctest"
	"github.com/fleetrun/fleetrun/internal/testneeds"
)

// KerberosPlan is the Kerberos benchmark: the three-step workload on Hosts
// simulated hosts at Forks, with Latency per WS-Man operation and
// ProcessStart per process, once over NTLM and once over Kerberos, both
// sealing messages over plain HTTP.
type KerberosPlan struct {
	Hosts, Forks          int
	Latency, ProcessStart time.Duration
}

// DefaultKerberosPlan is what BENCHMARKS.md reports: the judged 1,000-host
// three-step row's fleet.
func DefaultKerberosPlan() KerberosPlan {
	return KerberosPlan{Hosts: 1000, Forks: 50, Latency: 50 * time.Millisecond, ProcessStart: 100 * time.Millisecond}
}

// QuickKerberosPlan checks the harness in seconds.
func QuickKerberosPlan() KerberosPlan {
	return KerberosPlan{Hosts: 5, Forks: 5, Latency: 5 * time.Millisecond, ProcessStart: 10 * time.Millisecond}
}

// KerberosRun is one scheme's measurements.
type KerberosRun struct {
	Auth     string // "NTLM" or "Kerberos"
	Usage    Usage
	Requests int64
	// AS and TGS are the KDC's exchanges during the run (Kerberos only;
	// kinit's AS exchange, made before the run, is not counted).
	AS, TGS int
}

// CPUPerRequest is the controller's CPU per WS-Man request.
func (r KerberosRun) CPUPerRequest() time.Duration {
	if r.Requests == 0 {
		return 0
	}
	return r.Usage.CPU() / time.Duration(r.Requests)
}

// KerberosResult is what the Kerberos benchmark measured.
type KerberosResult struct {
	Plan        KerberosPlan
	Started     time.Time
	Runs        []KerberosRun
	LoadAverage string
}

// RunKerberos starts a loopback MIT KDC with a service principal per
// simulated host and a fleet whose hosts accept both NTLM and Kerberos
// (AllowUnencrypted false), fills a ticket cache with kinit, and runs the
// three-step workload over each scheme.
func RunKerberos(ctx context.Context, plan KerberosPlan, opts Options) (*KerberosResult, error) {
	tools, err := testneeds.FindMITKerberos()
	if err != nil {
		return nil, fmt.Errorf("kerberos benchmark: %w", err)
	}
	dir := filepath.Join(opts.Dir, "kerberos")
	kdcDir := filepath.Join(dir, "kdc")
	if err := os.MkdirAll(kdcDir, 0o700); err != nil {
		return nil, err
	}
	names := make([]string, plan.Hosts)
	for i := range names {
		names[i] = fmt.Sprintf("sim-%04d", i+1)
	}
	startCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	k, err := kdctest.Launch(startCtx, kdcDir, tools, kdctest.Options{Hosts: names})
	if err != nil {
		return nil, fmt.Errorf("kerberos benchmark: KDC: %w", err)
	}
	defer k.Stop()
	ccache := filepath.Join(dir, "ccache")
	if err := k.Kinit(startCtx, ccache); err != nil {
		return nil, fmt.Errorf("kerberos benchmark: %w", err)
	}
	p, err := StartSim(startCtx, opts.Fleetrun, dir, FleetSpec{Hosts: plan.Hosts, Latency: plan.Latency,
		ProcessStart: plan.ProcessStart, KerberosKeytabs: k.KeytabDir}, opts.Log)
	if err != nil {
		return nil, fmt.Errorf("kerberos benchmark: %w", err)
	}
	defer func() { _ = p.Stop() }() // measured already; how the fleet exits adds nothing
	krbInv, err := kerberosInventory(p.Inventory, k.Operator)
	if err != nil {
		return nil, fmt.Errorf("kerberos benchmark: %w", err)
	}
	pb := filepath.Join(opts.Workloads, "three-steps.yaml")
	res := &KerberosResult{Plan: plan, Started: time.Now(), LoadAverage: loadAverage()}
	for _, scheme := range []struct{ name, inv string }{{"NTLM", p.Inventory}, {"Kerberos", krbInv}} {
		run := KerberosRun{Auth: scheme.name}
		as0, err := k.Count("AS", "")
		if err != nil {
			return nil, err
		}
		tgs0, err := k.Count("TGS", "")
		if err != nil {
			return nil, err
		}
		before, err := p.Stats(ctx)
		if err != nil {
			return nil, err
		}
		o := opts
		o.Env = append(append([]string(nil), opts.Env...), k.Env(ccache)...)
		base := filepath.Join(dir, strings.ToLower(scheme.name))
		run.Usage, err = measureApply(ctx, o, base, pb, "-i", scheme.inv, "--forks", strconv.Itoa(plan.Forks), "--no-progress", "--report", base+".json")
		if err != nil {
			return nil, fmt.Errorf("kerberos benchmark (%s): %w", scheme.name, err)
		}
		after, err := p.Stats(ctx)
		if err != nil {
			return nil, err
		}
		requests, _, _ := diffStats(&before.FleetStats, &after.FleetStats)
		for _, n := range requests {
			run.Requests += n
		}
		as1, err := k.Count("AS", "")
		if err != nil {
			return nil, err
		}
		tgs1, err := k.Count("TGS", "")
		if err != nil {
			return nil, err
		}
		run.AS, run.TGS = as1-as0, tgs1-tgs0
		if scheme.name == "Kerberos" && (run.TGS == 0 || run.TGS > plan.Hosts) {
			return nil, fmt.Errorf("kerberos benchmark: the KDC issued %d service tickets for %d hosts: the run did not use Kerberos as planned", run.TGS, plan.Hosts)
		}
		res.Runs = append(res.Runs, run)
	}
	return res, nil
}

// inventoryDefault finds a line of the written inventory's defaults.
var inventoryDefault = regexp.MustCompile(`(?m)^  (auth|user|password_file): .*\n`)

// kerberosInventory writes, beside the fleet's inventory, the same hosts
// reached with auth: kerberos as user and no password, so the ticket cache
// KRB5CCNAME names is used.
func kerberosInventory(inv, user string) (string, error) {
	text, err := os.ReadFile(inv)
	if err != nil {
		return "", err
	}
	n := 0
	out := inventoryDefault.ReplaceAllStringFunc(string(text), func(line string) string {
		n++
		switch {
		case strings.HasPrefix(line, "  auth:"):
			return "  auth: kerberos\n"
		case strings.HasPrefix(line, "  user:"):
			return "  user: " + strconv.Quote(user) + "\n"
		}
		return ""
	})
	if n != 3 {
		return "", fmt.Errorf("%s: expected auth, user and password_file under defaults, found %d of them", inv, n)
	}
	path := strings.TrimSuffix(inv, ".yaml") + "-kerberos.yaml"
	return path, os.WriteFile(path, []byte(out), 0o600)
}

const kerberosHeading = "## Kerberos sealing beside NTLM"

// writeKerberos renders the Kerberos benchmark's section.
func writeKerberos(b *strings.Builder, r *KerberosResult) {
	if r == nil {
		return
	}
	p := r.Plan
	fmt.Fprintf(b, "%s\n\n", kerberosHeading)
	fmt.Fprintf(b, "The three-step workload (argv, cmd, powershell; small output) on %d simulated hosts at `--forks %d`, %s per WS-Man operation and %s per process start, over plain HTTP with message encryption (the hosts refuse unsealed bodies, AllowUnencrypted false): once over NTLM, once over Kerberos (RFC 4121 wrap tokens) against MIT's krb5kdc on loopback, with the operator's TGT in a ticket cache filled by kinit before the run. The same fleet serves both runs. Reproduce this section alone with `go run ./bench/cmd/fleetbench -fleetrun BIN -kerberos-only`. Load average at the start: %s.\n\n",
		p.Hosts, p.Forks, fmtDur(p.Latency), fmtDur(p.ProcessStart), r.LoadAverage)
	b.WriteString("| auth | wall | controller CPU | WS-Man requests | controller CPU per request | controller peak RSS | KDC exchanges during the run |\n|---|---:|---:|---:|---:|---:|---|\n")
	for _, run := range r.Runs {
		kdc := "none"
		if run.Auth == "Kerberos" {
			kdc = fmt.Sprintf("%d AS, %d TGS", run.AS, run.TGS)
			if run.TGS == p.Hosts {
				kdc += " (one service ticket per host)"
			}
		}
		fmt.Fprintf(b, "| %s | %s | %s | %d | %s | %s | %s |\n", run.Auth, fmtDur(run.Usage.Wall), fmtDur(run.Usage.CPU()),
			run.Requests, fmtDur(run.CPUPerRequest()), fmtBytes(run.Usage.MaxRSS), kdc)
	}
	b.WriteString("\n")
}

// ReplaceKerberosSection puts the Kerberos benchmark's section into doc.
func ReplaceKerberosSection(doc string, r *KerberosResult) string {
	var b strings.Builder
	writeKerberos(&b, r)
	return replaceSection(doc, kerberosHeading, b.String())
}
