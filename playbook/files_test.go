package playbook_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/internal/strictyaml"
	"github.com/fleetrun/fleetrun/playbook"
)

const fileSteps = `
name: files
vars: {kb: KB5034439}
defaults:
  timeout: 10m
  expect_exit: [0, 3010]
  run_as: system
  env: {A: "1"}
steps:
  - name: stage
    copy: {src: 'patches/{{ .vars.kb }}.msu', dest: 'C:\patches\', sha256: 3F7A000000000000000000000000000000000000000000000000000000000ABC}
  - name: pull
    download: {url: 'https://repo.example/{{ .host.name }}/agent.msi', dest: '\\srv\share\{{ .host.name }}.msi', sha256: 9c1e000000000000000000000000000000000000000000000000000000000001, proxy: 'http://proxy:3128'}
    retries: 4
  - name: collect
    fetch: {src: 'C:\logs\{{ .host.name }}-*.log', dest_dir: 'collected/{{ .vars.kb }}', max_bytes: 50MiB, optional: true}
    continue_on_error: true
  - name: collect more
    fetch: {src: 'C:\logs\app.log', dest_dir: out}
  - name: install
    command: [wusa.exe, 'C:\patches\{{ .vars.kb }}.msu', /quiet]
`

func TestFileSteps(t *testing.T) {
	t.Parallel()
	pb, err := playbook.Parse("dir/files.yaml", []byte(fileSteps))
	if err != nil {
		t.Fatal(err)
	}
	type view struct {
		Kind            playbook.Kind
		ExpectExit      []uint32
		Timeout         time.Duration
		Retries         int
		ContinueOnError bool
		RunAs           string
		Env             map[string]string
		Copy            *playbook.Copy
		Download        *playbook.Download
		Fetch           *playbook.Fetch
	}
	var got []view
	for _, s := range pb.Steps[:4] {
		got = append(got, view{s.Kind, s.ExpectExit, s.Timeout, s.Retries, s.ContinueOnError, s.RunAs, s.Env, s.Copy, s.Download, s.Fetch})
	}
	want := []view{
		{Kind: playbook.KindCopy, Timeout: 10 * time.Minute, Env: map[string]string{},
			Copy: &playbook.Copy{Src: "patches/{{ .vars.kb }}.msu", Dest: `C:\patches\`, SHA256: "3f7a000000000000000000000000000000000000000000000000000000000abc"}},
		{Kind: playbook.KindDownload, Timeout: 10 * time.Minute, Retries: 4, Env: map[string]string{},
			Download: &playbook.Download{URL: "https://repo.example/{{ .host.name }}/agent.msi", Dest: `\\srv\share\{{ .host.name }}.msi`, SHA256: "9c1e000000000000000000000000000000000000000000000000000000000001", Retries: 2, Proxy: "http://proxy:3128"}},
		{Kind: playbook.KindFetch, Timeout: 10 * time.Minute, ContinueOnError: true, Env: map[string]string{},
			Fetch: &playbook.Fetch{Src: `C:\logs\{{ .host.name }}-*.log`, DestDir: "collected/{{ .vars.kb }}", MaxBytes: 50 << 20, Optional: true}},
		{Kind: playbook.KindFetch, Timeout: 10 * time.Minute, Env: map[string]string{},
			Fetch: &playbook.Fetch{Src: `C:\logs\app.log`, DestDir: "out", MaxBytes: 100 << 20}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	if got := pb.Steps[4].ExpectExit; !cmp.Equal(got, []uint32{0, 3010}) || pb.Steps[4].RunAs != playbook.RunAsSystem {
		t.Errorf("the program step lost its defaults: expect_exit %v run_as %q", got, pb.Steps[4].RunAs)
	}
	ex, err := pb.Expand(playbook.HostData{Name: "web-01"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&playbook.Copy{Src: "patches/KB5034439.msu", Dest: `C:\patches\`, SHA256: want[0].Copy.SHA256}, ex[0].Copy); diff != "" {
		t.Errorf("expanded copy (-want +got):\n%s", diff)
	}
	if d := ex[1].Download; d.URL != "https://repo.example/web-01/agent.msi" || d.Dest != `\\srv\share\web-01.msi` {
		t.Errorf("expanded download = %+v", d)
	}
	if f := ex[2].Fetch; f.Src != `C:\logs\web-01-*.log` || f.DestDir != "collected/KB5034439" {
		t.Errorf("expanded fetch = %+v", f)
	}
	if got, want := pb.LocalPath(ex[0].Copy.Src), "dir/patches/KB5034439.msu"; got != want {
		t.Errorf("LocalPath = %q, want %q", got, want)
	}
	if got, want := pb.Steps[0].Body(), `copy patches/{{ .vars.kb }}.msu to C:\patches\`; got != want {
		t.Errorf("Body = %q, want %q", got, want)
	}
}

// TestFileStepTemplatesCheckedPerHost: a path or URL that is only wrong
// once expanded for a host is a positioned error naming the host.
func TestFileStepTemplatesCheckedPerHost(t *testing.T) {
	t.Parallel()
	const src = `name: t
steps:
  - name: stage
    copy: {src: a.txt, dest: '{{ .host.tags.drive }}\a.txt'}
  - name: pull
    download: {url: '{{ .host.tags.repo }}/a.msi', dest: 'C:\a.msi', sha256: 9c1e000000000000000000000000000000000000000000000000000000000001}
  - name: collect
    fetch: {src: 'C:\{{ .host.tags.dir }}\*.log', dest_dir: out}
`
	pb, err := playbook.Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	hosts := []playbook.HostData{
		{Name: "good", Tags: map[string]string{"drive": "D:", "repo": "https://r.example", "dir": "logs"}},
		{Name: "bad", Tags: map[string]string{"drive": "D", "repo": "ftp://r.example", "dir": "*"}},
	}
	err = pb.Check(hosts, nil)
	want := strings.Join([]string{
		`t.yaml:4:30: steps[0].copy.dest: host bad: path "D\a.txt" is not an absolute Windows path; give a drive letter (C:\dir\file) or a UNC path (\\server\share\file)`,
		`t.yaml:6:21: steps[1].download.url: host bad: url "ftp://r.example/a.msi": the scheme must be https, http or s3, found "ftp"`,
		`t.yaml:8:18: steps[2].fetch.src: host bad: path "C:\*\*.log" has '*' before its last element; wildcards are allowed in the file name only`,
	}, "\n")
	if err == nil || strictyaml.AsErrors(err) == nil || err.Error() != want {
		t.Errorf("Check:\n got %v\nwant %s", err, want)
	}
}

func TestParseBytes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want int64
		err  string
	}{
		{in: "1", want: 1},
		{in: "1048576", want: 1 << 20},
		{in: "50MiB", want: 50 << 20},
		{in: "50 mib", want: 50 << 20},
		{in: "1GB", want: 1e9},
		{in: "1.5KiB", want: 1536},
		{in: "64GiB", want: 64 << 30},
		{in: "0", err: `size "0" is out of range; expected from 1 byte to 64 GiB`},
		{in: "65GiB", err: `size "65GiB" is out of range; expected from 1 byte to 64 GiB`},
		{in: "-5MB", err: `size "-5MB": expected a number of bytes, optionally with a unit (B, KB, MB, GB, KiB, MiB, GiB), e.g. 50MiB`},
		{in: "5 furlongs", err: `size "5 furlongs": unknown unit "furlongs"; use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB`},
	} {
		got, err := playbook.ParseBytes(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("ParseBytes(%q) error = %v, want %s", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestFormatBytes(t *testing.T) {
	t.Parallel()
	for in, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1 KiB", 3174: "3.1 KiB", 100 << 20: "100 MiB", 5 << 30: "5 GiB"} {
		if got := playbook.FormatBytes(in); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", in, got, want)
		}
	}
}
