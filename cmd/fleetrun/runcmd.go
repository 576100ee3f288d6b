package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"

	"github.com/fleetrun/fleetrun/playbook"
)

// maxScriptFile bounds what --ps-file reads: far more than any script a
// command line should carry (scripts beyond 8191 characters already travel
// over stdin).
const maxScriptFile = 4 << 20

type runOptions struct {
	applyOptions
	cmdLine    string
	psScript   string
	psFile     string
	timeout    string
	expectExit string
	runAs      string
	maxFail    string
}

func newRunCmd(e *env) *cobra.Command {
	o := &runOptions{}
	o.adhoc = true
	cmd := &cobra.Command{
		Use:   "run -i INVENTORY... [flags] (-- PROGRAM ARG... | --cmd LINE | --ps SCRIPT | --ps-file FILE)",
		Short: "Run one command on the selected hosts, without a playbook",
		Long: `Run runs one command on every selected host, as a one-step playbook would,
with the same inventories, selectors, forks, credentials, transports (WinRM
and SSM), reports and exit statuses as apply. Give exactly one body:

  -- PROGRAM ARG...   the exact argument array (a command: step): each
                      argument reaches the program as written
  --cmd LINE          a cmd.exe line (a cmd: step)
  --ps SCRIPT         a PowerShell script (a powershell: step)
  --ps-file FILE      a PowerShell script read from FILE

The body may use templates ({{ .host.name }}, {{ .vars.KEY }} with -e
KEY=VALUE), as a playbook step does.

Hosts whose result is identical (status, exit code, stdout and stderr, once
each host's own name and address are replaced by <host>) are shown once,
with their count and their names compressed (web-[001-037]); at most 20
results of at most 10 lines each are shown, failures after successes.
--output json, --report and --log-dir hold every host's full output.

--timeout bounds the command on each host (the step's timeout: in a
playbook); a host whose command runs longer fails with class timeout.
--expect-exit lists the exit codes that count as success (default 0).
--max-fail is the failure budget, a number of hosts or a percentage: once
more hosts failed, no further host starts and the run exits 3.

An ad-hoc run has nothing to resume, so it keeps no journal unless
--journal FILE is given.

Exit status: 0 every host succeeded; 1 invalid input; 2 the run finished
and at least one host failed or was unreachable; 3 the run stopped early
(failure budget spent, or interrupted).`,
		Example: `  fleetrun run -i prod.yaml -- hostname
  fleetrun run -i prod.yaml --limit 'role=web' --cmd 'ipconfig /all'
  fleetrun run -i prod.yaml --ps 'Get-Service W32Time | Select-Object -ExpandProperty Status'
  fleetrun run -i prod.yaml --ps-file fix-time.ps1 --run-as system --max-fail 5%
  fleetrun run -i prod.yaml --expect-exit 0,3010 --timeout 10m -- 'C:\patches\install.exe' /quiet
  fleetrun run -i prod.yaml --output json -- whoami > whoami.json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAdHoc(cmd, e, o, args)
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.invFiles, "inventory", "i", nil, "inventory `FILE` (repeatable; lists merge)")
	stringOnce(f, &o.limit, "limit", "only hosts matching `SELECTOR` (e.g. 'role=web', 'web-0*', '@db')")
	f.IntVar(&o.forks, "forks", 0, "hosts running at once (default 50)")
	f.StringArrayVarP(&o.extras, "extra-var", "e", nil, "template variable `KEY=VALUE` (repeatable)")
	f.StringVar(&o.cmdLine, "cmd", "", "run `LINE` under cmd.exe /c")
	f.StringVar(&o.psScript, "ps", "", "run the PowerShell `SCRIPT`")
	f.StringVar(&o.psFile, "ps-file", "", "run the PowerShell script in `FILE`")
	f.StringVar(&o.timeout, "timeout", "", "fail a host whose command runs longer than `DURATION` (e.g. 90s, 10m)")
	f.StringVar(&o.expectExit, "expect-exit", "", "exit `CODES` that count as success, comma-separated (default 0)")
	f.StringVar(&o.runAs, "run-as", "", "run as `ACCOUNT`: system (a scheduled task as SYSTEM) or login (the inventory's account, the default)")
	f.StringVar(&o.maxFail, "max-fail", "", "stop starting hosts once more than `N|P%` hosts failed (exit 3)")
	f.StringVar(&o.reportFile, "report", "", "write the JSON report to `FILE` (mode 0600)")
	f.StringVar(&o.junitFile, "junit", "", "write a JUnit XML report to `FILE`")
	f.StringVar(&o.logDir, "log-dir", "", "write one log per host with full output to `DIR`")
	f.StringVar(&o.htmlFile, "html", "", "write a self-contained HTML report to `FILE`")
	f.StringVarP(&o.output, "output", "o", "text", "output format on stdout: text or json")
	f.BoolVar(&o.noProgress, "no-progress", false, "plain lines instead of the live progress display")
	f.StringVar(&o.journal, "journal", "", "record progress in `FILE` (none by default: an ad-hoc run has nothing to resume)")
	o.disc.register(f)
	f.IntVar(&o.outputCap, "output-cap", DefaultOutputCap, "keep at most `BYTES` of each step's stdout and stderr in reports (head and tail; --log-dir keeps everything)")
	return cmd
}

func runAdHoc(cmd *cobra.Command, e *env, o *runOptions, args []string) error {
	if err := checkOutput(o.output); err != nil {
		return invalid(err)
	}
	if err := checkApplyFlags(&o.applyOptions, cmd.Flags().Changed("forks")); err != nil {
		return invalid(err)
	}
	ah, err := adHocBody(cmd, o, args)
	if err != nil {
		return invalid(err)
	}
	extra, err := parseExtraVars(o.extras)
	if err != nil {
		return invalid(err)
	}
	if err := checkOutputs(&o.applyOptions); err != nil {
		return invalid(err)
	}
	ah.ExpectExit, ah.Timeout, ah.RunAs, ah.MaxFail = o.expectExit, o.timeout, o.runAs, o.maxFail
	for _, f := range []struct{ name, value string }{{"expect-exit", o.expectExit}, {"timeout", o.timeout}, {"run-as", o.runAs}, {"max-fail", o.maxFail}} {
		if cmd.Flags().Changed(f.name) && strings.TrimSpace(f.value) == "" {
			return invalid(fmt.Errorf("--%s is empty; leave it out for the default", f.name))
		}
	}
	pb, err := playbook.NewAdHoc(ah)
	if err != nil {
		return invalid(err)
	}
	if o.forks > 0 {
		pb.Forks = o.forks
	}
	if o.journal != "" {
		// Before a simulated fleet starts.
		if err := checkJournalPath(o.journal, pb, nil); err != nil {
			return invalid(err)
		}
	}
	hosts, stop, err := fleetHosts(e, o.invFiles, o.disc, pb, o.limit)
	if err != nil {
		return err
	}
	defer stop()
	if len(hosts) == 0 {
		return invalid(fmt.Errorf("no hosts selected (--limit %q); check with fleetrun inventory", o.limit))
	}
	return executeRun(cmd.Context(), e, &o.applyOptions, pb, hosts, extra)
}

// adHocBody reads the one body the command line gives: the arguments
// after --, --cmd, --ps or --ps-file.
func adHocBody(cmd *cobra.Command, o *runOptions, args []string) (playbook.AdHoc, error) {
	dash := cmd.ArgsLenAtDash()
	if dash < 0 {
		dash = len(args)
	}
	if dash > 0 {
		return playbook.AdHoc{}, fmt.Errorf("unexpected argument %q before --; put the program and its arguments after -- (fleetrun run -i INV -- PROGRAM ARG...)", args[0])
	}
	var given []string
	if cmd.ArgsLenAtDash() >= 0 {
		given = append(given, "--")
	}
	for _, f := range []string{"cmd", "ps", "ps-file"} {
		if cmd.Flags().Changed(f) {
			given = append(given, "--"+f)
		}
	}
	switch {
	case len(given) == 0:
		return playbook.AdHoc{}, errors.New("nothing to run; give exactly one of -- PROGRAM ARG..., --cmd LINE, --ps SCRIPT or --ps-file FILE")
	case len(given) > 1:
		return playbook.AdHoc{}, fmt.Errorf("%s and %s both given; give exactly one of -- PROGRAM ARG..., --cmd LINE, --ps SCRIPT or --ps-file FILE", given[0], given[1])
	}
	switch given[0] {
	case "--cmd":
		return playbook.AdHoc{Kind: playbook.KindCmd, Line: o.cmdLine, BodyFlag: "--cmd"}, nil
	case "--ps":
		return playbook.AdHoc{Kind: playbook.KindPowerShell, Script: o.psScript, BodyFlag: "--ps"}, nil
	case "--ps-file":
		script, err := readScriptFile(o.psFile)
		if err != nil {
			return playbook.AdHoc{}, err
		}
		return playbook.AdHoc{Kind: playbook.KindPowerShell, Script: script, BodyFlag: "--ps-file " + o.psFile}, nil
	}
	if len(args) == 0 {
		return playbook.AdHoc{}, errors.New("-- is followed by nothing; give the program and its arguments after it")
	}
	return playbook.AdHoc{Kind: playbook.KindCommand, Argv: args, BodyFlag: "--"}, nil
}

// readScriptFile reads a --ps-file script, at most maxScriptFile bytes.
func readScriptFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("--ps-file: %w", err)
	}
	defer func() { _ = f.Close() }() // read-only
	data, err := io.ReadAll(io.LimitReader(f, maxScriptFile+1))
	if err != nil {
		return "", fmt.Errorf("--ps-file %s: %w", path, err)
	}
	if len(data) > maxScriptFile {
		return "", fmt.Errorf("--ps-file %s: larger than %d MiB; a script that size belongs in a copy step and a playbook", path, maxScriptFile>>20)
	}
	// Windows editors save scripts as UTF-16 ("Unicode") or UTF-8 with a
	// byte-order mark; the BOM says which.
	text, _, err := transform.Bytes(unicode.BOMOverride(unicode.UTF8.NewDecoder()), data)
	if err != nil {
		return "", fmt.Errorf("--ps-file %s: %w", path, err)
	}
	if !utf8.Valid(text) {
		return "", fmt.Errorf("--ps-file %s: not UTF-8 text; save the script as UTF-8 or UTF-16 with a byte-order mark", path)
	}
	return string(text), nil
}
