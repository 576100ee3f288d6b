package playbook_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/internal/strictyaml"
	"github.com/fleetrun/fleetrun/playbook"
)

// injection is an EC2 tag value written to break out of a cmd: line.
const injection = `x" & del /q C:\data & echo "`

func TestCmdquoteKeepsATagValueOneArgument(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, line, want string
	}{
		{"the injection is escaped", `report.exe {{ cmdquote .host.tags.role }}`, `report.exe ^"x\^" ^& del /q C:\data ^& echo \^"^"`},
		{"as a pipeline", `report.exe {{ .host.tags.role | cmdquote }}`, `report.exe ^"x\^" ^& del /q C:\data ^& echo \^"^"`},
		{"a plain name is unchanged", `report.exe {{ cmdquote .host.name }}`, `report.exe web-01`},
		{"a percent cannot expand", `report.exe {{ cmdquote .vars.v }}`, `report.exe ^"%^PATH%^"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pb, err := playbook.Parse("p.yaml", []byte("name: p\nsteps:\n  - name: a\n    cmd: '"+tt.line+"'\n"))
			if err != nil {
				t.Fatal(err)
			}
			ex, err := pb.Expand(playbook.HostData{Name: "web-01", Tags: map[string]string{"role": injection}, Vars: map[string]any{"v": "%PATH%"}}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := ex[0].Line; got != tt.want {
				t.Errorf("line = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestCmdquoteRefusesALineBreak(t *testing.T) {
	t.Parallel()
	pb, err := playbook.Parse("p.yaml", []byte("name: p\nsteps:\n  - name: a\n    cmd: 'x.exe {{ cmdquote .host.tags.role }}'\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = pb.Expand(playbook.HostData{Name: "web-01", Tags: map[string]string{"role": "a\r\nb"}}, nil)
	want := `p.yaml:4:10: steps[0].cmd: host web-01: cmd.exe cannot carry a line break or NUL in a command line`
	if err == nil || err.Error() != want {
		t.Errorf("Expand: %v, want %s", err, want)
	}
}

func TestWarningsFlagHostValuesUnquotedInCmdLines(t *testing.T) {
	t.Parallel()
	const msg = " puts a host value into cmd.exe's line unquoted; cmd.exe would act on & | < > ( ) ^ % in it: write it as {{ cmdquote ... }}"
	tests := []struct {
		name, line string
		want       []string // the actions warned about
	}{
		{"a tag", `echo {{ .host.tags.role }}`, []string{"{{.host.tags.role}}"}},
		{"the name and the address", `ping {{ .host.name }} & ping {{ .host.address }}`, []string{"{{.host.address}}", "{{.host.name}}"}}, // sorted
		{"through index", `echo {{ index .host.tags "role" }}`, []string{`{{index .host.tags "role"}}`}},
		{"from the root variable", `echo {{ $.host.name }}`, []string{"{{$.host.name}}"}},
		{"psquote is the wrong quoting", `echo {{ psquote .host.name }}`, []string{"{{psquote .host.name}}"}},
		{"inside with over host data", `{{ with .host.tags }}echo {{ .role }}{{ end }}`, []string{"{{.role}}"}},
		{"inside an if body", `{{ if .host.tags.role }}echo {{ .host.tags.role }}{{ end }}`, []string{"{{.host.tags.role}}"}},
		{"cmdquote", `echo {{ cmdquote .host.tags.role }}`, nil},
		{"cmdquote at the end of a pipeline", `echo {{ .host.tags.role | printf "%s-x" | cmdquote }}`, nil},
		{"a playbook variable", `echo {{ .vars.kb }}`, nil},
		{"an if condition prints nothing", `{{ if eq .host.name "a" }}echo a{{ end }}`, nil},
		{"no template", `echo hi`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			doc := "name: p\nsteps:\n  - name: a\n    powershell: 'echo {{ .host.name }}'\n  - name: b\n    cmd: '" + tt.line + "'\n"
			pb, err := playbook.Parse("p.yaml", []byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			var want strictyaml.Errors
			for _, a := range tt.want {
				want = append(want, &strictyaml.Error{File: "p.yaml", Line: 6, Col: 10, Path: "steps[1].cmd", Msg: a + msg})
			}
			got := pb.Warnings()
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
			if strings.Contains(tt.line, "cmdquote") && len(got) > 0 {
				t.Errorf("cmdquote was warned about")
			}
		})
	}
}
