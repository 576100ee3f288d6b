package runner

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/fleetrun/fleetrun/inventory"
	"github.com/fleetrun/fleetrun/playbook"
	"github.com/fleetrun/fleetrun/transport"
)

// Batches splits n hosts into rolling batches: each entry of serial gives the
// next batch's size (a count or a percentage of n, rounded up, at least one
// host) and the last entry repeats. An empty serial gives one batch. The
// result holds, for each host index, its batch number.
func Batches(n int, serial []playbook.Size) []int {
	batch := make([]int, n)
	if len(serial) == 0 {
		return batch
	}
	b, i := 0, 0
	for i < n {
		size := serial[min(b, len(serial)-1)].Of(n)
		size = max(size, 1)
		for j := 0; j < size && i < n; j++ {
			batch[i] = b
			i++
		}
		b++
	}
	return batch
}

// Budget resolves max_fail against n selected hosts: -1 means no budget.
func Budget(maxFail *playbook.Size, n int) int {
	if maxFail == nil {
		return -1
	}
	if maxFail.Percent > 0 {
		return maxFail.Of(n)
	}
	return maxFail.Count
}

// HostData is what a playbook's templates see of h.
func HostData(h *inventory.Host) playbook.HostData {
	return playbook.HostData{Name: h.Name, Address: h.Address, Tags: h.Tags, Vars: h.Vars}
}

// Command turns an expanded step into what a transport runs.
func Command(e *playbook.Expanded) transport.Command {
	cmd := transport.Command{
		Name:    e.Step.Name,
		Kind:    transport.Kind(e.Step.Kind),
		Script:  e.Script,
		Line:    e.Line,
		Argv:    e.Argv,
		Env:     e.Env,
		Workdir: e.Workdir,
		RunAs:   transport.RunAs(e.Step.RunAs),

		OutputEncoding: e.Step.OutputEncoding,
	}
	// A copy's files (opened sources) and a fetch's sink are the runner's
	// to add: they belong to the run, not to the step.
	if d := e.Download; d != nil {
		cmd.Download = &transport.DownloadSpec{URL: d.URL, Dest: d.Dest, SHA256: d.SHA256, Retries: d.Retries, Proxy: d.Proxy}
	}
	if f := e.Fetch; f != nil {
		cmd.Fetch = &transport.FetchSpec{Src: f.Src, MaxBytes: f.MaxBytes, Optional: f.Optional}
	}
	return cmd
}

// Renderer shows what a host's transport would send for a command, without
// I/O.
type Renderer func(h *inventory.Host, cmd transport.Command) (Rendering, error)

// Rendering is what a Renderer shows of a step: what goes on the wire, the
// command line the program receives, and a note when how the step reaches
// the host needs saying (run_as).
type Rendering struct {
	RemoteCommand []string
	CommandLine   string
	Note          string
	// StepRuns says the host's transport takes consecutive steps in one
	// launch (transport.StepRunner); the plan then says which steps go
	// together.
	StepRuns bool
}

// Plan builds the dry-run result: every host with its batch and every step
// with what would be sent. Template and rendering failures are returned
// together.
func Plan(pb *playbook.Playbook, hosts []*inventory.Host, extra map[string]string, render Renderer) (*Result, error) {
	batches := Batches(len(hosts), pb.Serial)
	budget := Budget(pb.MaxFail, len(hosts))
	res := &Result{Playbook: pb.Name, Status: StatusPlanned, Forks: pb.Forks, MaxFail: budget, Concurrency: ConcurrencyOf(pb.Forks, batches, budget)}
	if len(hosts) > 0 {
		res.Batches = batches[len(batches)-1] + 1
	}
	if err := pb.Check(hostDatas(hosts), extra); err != nil {
		return nil, err
	}
	// A plan shows each copy source's size and SHA-256, so it reads the
	// sources as a run would (and fails as a run would when one is
	// missing or differs from its pinned sha256).
	srcs := newSources(pb, 0, 0)
	defer func() { _ = srcs.Close() }() // read-only files
	var problems []error
	seen := map[string]bool{}
	for i, h := range hosts {
		hr := &HostResult{Name: h.Name, Address: h.Address, Batch: batches[i], Status: StatusPlanned, Transport: h.Transport, Simulated: h.Simulated}
		if h.Unusable != "" {
			hr.Status, hr.Reason = StatusSkipped, h.Unusable
		}
		steps, err := pb.Expand(HostData(h), extra)
		if err != nil {
			return nil, err
		}
		together := make([]bool, len(steps))
		for k, e := range steps {
			sr := &StepResult{Index: e.Step.Index, Name: e.Step.Name, Kind: e.Step.Kind, Status: StatusPlanned, Expected: e.Step.ExpectExit, RunAs: e.Step.RunAs}
			cmd := Command(e)
			planDecoded(sr, cmd)
			if e.Copy != nil {
				spec, err := srcs.copySpec(e.Step, e.Copy)
				if err != nil {
					if !seen[err.Error()] {
						seen[err.Error()] = true
						problems = append(problems, err)
					}
					hr.Steps = append(hr.Steps, sr)
					continue
				}
				cmd.Copy = spec
				for _, f := range spec.Files {
					sr.Files = append(sr.Files, transport.FileResult{Path: f.Dest, Local: f.Origin, Size: f.Src.Size(), SHA256: f.Src.SHA256()})
				}
			}
			if e.Fetch != nil {
				// The sink a run would store into, for the renderer to
				// name; a plan never creates it.
				cmd.Fetch.Sink = newFetchSink(e.Fetch.DestDir, h.Name)
			}
			if render != nil {
				rd, err := render(h, cmd)
				if err != nil {
					problems = append(problems, fmt.Errorf("host %s: step %q: %w", h.Name, e.Step.Name, err))
				}
				sr.RemoteCommand, sr.CommandLine, sr.Note = rd.RemoteCommand, rd.CommandLine, rd.Note
				together[k] = rd.StepRuns && joinsRuns(e)
			}
			if e.Step.Kind.IsFile() {
				sr.Note = joinNotes(fileNote(e, cmd, h.Name), sr.Note)
			}
			hr.Steps = append(hr.Steps, sr)
		}
		noteStepRuns(hr.Steps, together)
		res.Hosts = append(res.Hosts, hr)
	}
	if len(problems) > 0 {
		return nil, joinErrors(problems)
	}
	return res, nil
}

// noteStepRuns says, on each step that would go in a step run, which
// steps go together (numbered from 1, as plans show them): the wire form
// shown is that of the step alone, which --no-step-runs sends.
func noteStepRuns(steps []*StepResult, together []bool) {
	for j := 0; j < len(steps); {
		n := 0
		for j+n < len(steps) && together[j+n] {
			n++
		}
		if n < 2 {
			j++
			continue
		}
		note := fmt.Sprintf("goes in one step run with steps %d to %d (sends: the step alone, as --no-step-runs sends it)", j+1, j+n)
		for _, sr := range steps[j : j+n] {
			sr.Note = joinNotes(sr.Note, note)
		}
		j += n
	}
}

// planDecoded fills in what a step's program receives, decoded: the same
// over every transport, since each hands the launcher the same step.
func planDecoded(sr *StepResult, cmd transport.Command) {
	switch cmd.Kind {
	case transport.KindArgv:
		sr.Argv = cmd.Argv
	case transport.KindCmd:
		// The launcher drops a trailing line break (a YAML block scalar's)
		// before cmd.exe sees the line.
		sr.CmdLine = strings.TrimRight(cmd.Line, "\r\n")
	case transport.KindPowerShell:
		sr.Script = cmd.Script
	}
}

func hostDatas(hosts []*inventory.Host) []playbook.HostData {
	out := make([]playbook.HostData, len(hosts))
	for i, h := range hosts {
		out[i] = HostData(h)
	}
	return out
}

// joinErrors reports at most a handful of errors, then a count.
func joinErrors(errs []error) error {
	const show = 10
	msg := ""
	for i, e := range errs {
		if i == show {
			msg += fmt.Sprintf("\n... and %d more", len(errs)-show)
			break
		}
		if i > 0 {
			msg += "\n"
		}
		msg += e.Error()
	}
	return fmt.Errorf("%s", msg)
}

// TargetOf resolves a host's connection settings, password included, into
// what a transport dials. The SSM settings travel typed (Target.SSM); the
// host's template variables travel as Target.Vars and never stand for a
// transport setting. lookupEnv reads password_env variables; ctx bounds
// fetching the password (EC2 GetPasswordData).
func TargetOf(ctx context.Context, h *inventory.Host, lookupEnv func(string) (string, bool)) (transport.Target, error) {
	pw, err := h.Password(ctx, lookupEnv)
	if err != nil {
		return transport.Target{}, err
	}
	return transport.Target{
		Name: h.Name, Address: h.Address, Port: h.Port, HTTPS: h.HTTPS, Auth: h.Auth,
		User: h.User, Password: pw, CAFile: h.CAFile, ClientCert: h.ClientCert, ClientKey: h.ClientKey,
		InsecureSkipVerify: h.InsecureSkipVerify, AllowUnencrypted: h.AllowUnencrypted,
		OutputEncoding: h.OutputEncoding, ConnectTimeout: h.ConnectTimeout, SSM: SSMTargetOf(h), Vars: h.StringVars(),
		SPN: h.SPN, Keytab: h.Keytab,
	}, nil
}

// SSMTargetOf is the host's SSM settings as the transport receives them.
func SSMTargetOf(h *inventory.Host) transport.SSMTarget {
	s := h.SSM
	return transport.SSMTarget{InstanceID: s.InstanceID, Region: s.Region, Profile: s.Profile, Endpoint: s.Endpoint,
		S3Endpoint: s.S3Endpoint, OutputS3Bucket: s.OutputS3Bucket, OutputS3Prefix: s.OutputS3Prefix, Document: s.Document,
		TransferBucket: s.TransferBucket, TransferPrefix: s.TransferPrefix}
}

// fileNote says, in a plan, what a file step would move.
func fileNote(e *playbook.Expanded, cmd transport.Command, host string) string {
	switch {
	case cmd.Copy != nil:
		var total int64
		for _, f := range cmd.Copy.Files {
			total += f.Src.Size()
		}
		if len(cmd.Copy.Files) == 1 {
			f := cmd.Copy.Files[0]
			return fmt.Sprintf("copies %s (%s, sha256 %s) to %s", f.Origin, playbook.FormatBytes(total), f.Src.SHA256(), f.Dest)
		}
		return fmt.Sprintf("copies %d files (%s in all) from %s to %s", len(cmd.Copy.Files), playbook.FormatBytes(total), e.Copy.Src, e.Copy.Dest)
	case cmd.Download != nil:
		d := cmd.Download
		note := fmt.Sprintf("the host downloads %s to %s and keeps it only with sha256 %s (%d further tries after a failed transfer", d.URL, d.Dest, d.SHA256, d.Retries)
		if d.Proxy != "" {
			note += ", through the proxy " + d.Proxy
		}
		return note + ")"
	case cmd.Fetch != nil:
		f := cmd.Fetch
		note := fmt.Sprintf("fetches %s (at most %s) into %s%c", f.Src, playbook.FormatBytes(f.MaxBytes), filepath.Join(e.Fetch.DestDir, LocalHostName(host)), filepath.Separator)
		if f.Optional {
			return note + "; no matching file is fine (optional)"
		}
		return note + "; no matching file fails the step"
	}
	return ""
}

func joinNotes(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}
