package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// complete runs cobra's hidden __complete command, as the shell scripts
// fleetrun completion writes do, and returns stdout and stderr.
func complete(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errOut strings.Builder
	e := &env{stdout: &out, stderr: &errOut, lookupEnv: func(string) (string, bool) { return "", false }}
	done := make(chan int, 1)
	go func() { done <- execute(ctx, e, append([]string{"__complete"}, args...)) }()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("__complete %q: exit status %d\n%s", args, code, errOut.String())
		}
	case <-ctx.Done():
		t.Fatalf("__complete %q did not answer within the deadline", args)
	}
	return out.String(), errOut.String()
}

func TestCompletion(t *testing.T) {
	t.Parallel()
	const (
		noFiles = ":4\n"
		exts    = ":8\n"
		dirs    = ":16\n"
		dir     = "testdata/completion/"
	)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"subcommands", []string{"v"},
			"validate\tCheck a playbook (and, with -i, its templates for every selected host), an inventory or a scenario\n" +
				"version\tPrint fleetrun's version and the commit it was built from\n" + noFiles},
		{"flags", []string{"apply", "--re"},
			"--report\twrite the JSON report to `FILE` (mode 0600)\n" +
				"--restart-failed-hosts\twith --resume, run unfinished hosts from their first step\n" +
				"--resume\tresume the rollout recorded in `JOURNAL`: run only unfinished hosts, from their first unfinished step\n" + noFiles},
		{"--output's choices", []string{"apply", "x.yaml", "--output", ""}, "text\njson\n" + noFiles},
		{"version --output's choices", []string{"version", "--output", ""}, "text\njson\n" + noFiles},
		{"sim --profile's choices", []string{"sim", "--profile", ""}, "2008r2\n2012r2\n2016\n2019\n2022\n" + noFiles},
		{"the shells", []string{"completion", ""}, "bash\nzsh\nfish\npowershell\n" + noFiles},
		{"a playbook is a YAML file", []string{"apply", ""}, "yaml\nyml\n" + exts},
		{"apply takes one playbook", []string{"apply", "pb.yaml", ""}, noFiles},
		{"validate takes YAML files", []string{"validate", ""}, "yaml\nyml\n" + exts},
		{"an inventory is a YAML file", []string{"apply", "pb.yaml", "-i", ""}, "yaml\nyml\n" + exts},
		{"preflight --playbook is a YAML file", []string{"preflight", "--playbook", ""}, "yaml\nyml\n" + exts},
		{"report takes a JSON report", []string{"report", ""}, "json\n" + exts},
		{"--report is a JSON file", []string{"apply", "pb.yaml", "--report", ""}, "json\n" + exts},
		{"--resume is a journal", []string{"apply", "pb.yaml", "--resume", ""}, "journal\n" + exts},
		{"--log-dir is a folder", []string{"apply", "pb.yaml", "--log-dir", ""}, dirs},
		{"a duration completes nothing", []string{"apply", "pb.yaml", "--timeout", ""}, noFiles},
		{"--limit: hosts, groups and tags of a static inventory", []string{"apply", "pb.yaml", "-i", dir + "static.yaml", "--limit", ""},
			"@dmz\n@jp\napp-01\nenv=prod\nowner=team a\nrole=app\nrole=web\nweb-01\nweb-02\n" + noFiles},
		{"--limit completes what the word starts with", []string{"apply", "pb.yaml", "-i", dir + "static.yaml", "--limit", "web"},
			"web-01\nweb-02\n" + noFiles},
		{"--limit completes the term after the last comma and a !", []string{"inventory", "-i", dir + "static.yaml", "--limit", "role=web,!@"},
			"role=web,!@dmz\nrole=web,!@jp\n" + noFiles},
		{"--limit: a simulated fleet's hosts and tags, without starting it", []string{"apply", "pb.yaml", "-i", dir + "simulated.yaml", "--limit", ""},
			"group=legacy\ngroup=web\nprofile=2008r2\nprofile=2012r2\nrole=web\nsim-0001\nsim-0002\nsim-0003\nsimulated=true\n" + noFiles},
		{"--limit: several inventories merge", []string{"preflight", "-i", dir + "static.yaml", "-i", dir + "simulated.yaml", "--limit", "@"},
			"@dmz\n@jp\n" + noFiles},
		{"--limit: an EC2 inventory gives its static part and never calls AWS", []string{"apply", "pb.yaml", "-i", dir + "ec2.yaml", "--limit", ""},
			"@windows\nRole=build\nbuild-01\n" + noFiles},
		{"--limit: an invalid inventory completes nothing", []string{"apply", "pb.yaml", "-i", dir + "bad.yaml", "--limit", ""}, noFiles},
		{"--limit: a missing inventory completes nothing", []string{"apply", "pb.yaml", "-i", dir + "missing.yaml", "--limit", ""}, noFiles},
		{"--limit: a folder given as inventory completes nothing", []string{"apply", "pb.yaml", "-i", dir, "--limit", ""}, noFiles},
		{"--limit without -i completes nothing", []string{"apply", "pb.yaml", "--limit", ""}, noFiles},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, errOut := complete(t, tt.args...)
			if diff := cmp.Diff(tt.want, out); diff != "" {
				t.Errorf("__complete %q (-want +got):\n%s", tt.args, diff)
			}
			// Nothing but cobra's own note of the directive, which the
			// shell scripts discard.
			if !strings.HasPrefix(errOut, "Completion ended with directive: ") || strings.Count(errOut, "\n") != 1 {
				t.Errorf("__complete %q wrote to stderr:\n%s", tt.args, errOut)
			}
		})
	}
}

func TestCompletionScripts(t *testing.T) {
	t.Parallel()
	tests := []struct{ shell, want string }{
		{"bash", "# bash completion V2 for fleetrun"},
		{"zsh", "#compdef fleetrun"},
		{"fish", "# fish completion for fleetrun"},
		{"powershell", "# powershell completion for fleetrun"},
	}
	for _, tt := range tests {
		t.Run(tt.shell, func(t *testing.T) {
			t.Parallel()
			var out, errOut strings.Builder
			e := &env{stdout: &out, stderr: &errOut, lookupEnv: func(string) (string, bool) { return "", false }}
			if code := execute(context.Background(), e, []string{"completion", tt.shell}); code != 0 {
				t.Fatalf("completion %s: exit status %d\n%s", tt.shell, code, errOut.String())
			}
			if first, _, _ := strings.Cut(out.String(), "\n"); !strings.HasPrefix(first, tt.want) {
				t.Errorf("completion %s starts with %q, want %q", tt.shell, first, tt.want)
			}
		})
	}
	var out, errOut strings.Builder
	e := &env{stdout: &out, stderr: &errOut, lookupEnv: func(string) (string, bool) { return "", false }}
	if code := execute(context.Background(), e, []string{"completion", "tcsh"}); code != exitInvalid || out.Len() != 0 {
		t.Errorf("completion tcsh: exit status %d, stdout %q; want 1 and nothing", code, out.String())
	}
	if want := "fleetrun: invalid argument \"tcsh\" for \"fleetrun completion\"\n"; errOut.String() != want {
		t.Errorf("completion tcsh: stderr %q, want %q", errOut.String(), want)
	}
}
