package playbook_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/playbook"
)

// TestOutputEncodingPrecedence: a step's output_encoding wins over
// defaults:, which wins over auto; names are kept as written (lower case)
// for the transport to look up; reboot and file steps have none.
func TestOutputEncodingPrecedence(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"auto is the default", "steps:\n  - {name: a, cmd: echo 日本語}\n", []string{"auto"}},
		{"a step names its own", "steps:\n  - {name: a, cmd: echo x, output_encoding: utf-8}\n  - {name: b, command: [x.exe], output_encoding: cp932}\n  - {name: c, powershell: x, output_encoding: Shift_JIS}\n  - {name: d, cmd: x, output_encoding: AUTO}\n",
			[]string{"utf-8", "cp932", "shift_jis", "auto"}},
		{"defaults apply to every program step", "defaults: {output_encoding: windows-1252}\nsteps:\n  - {name: a, cmd: echo x}\n  - {name: b, cmd: echo x, output_encoding: auto}\n",
			[]string{"windows-1252", "auto"}},
		{"reboot and file steps ignore defaults", "defaults: {output_encoding: cp932}\nsteps:\n  - {name: a, reboot: {}}\n  - {name: b, fetch: {src: 'C:\\x.log', dest_dir: out}}\n  - {name: c, cmd: echo x}\n",
			[]string{"", "", "cp932"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pb, err := playbook.Parse("p.yaml", []byte("name: enc\n"+tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, st := range pb.Steps {
				got = append(got, st.OutputEncoding)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("output encodings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestKnownOutputEncoding(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"auto": true, "Auto": true, "utf-8": true, "utf8": true, "cp932": true, "shift_jis": true,
		"windows-31j": true, "windows-1252": true, "cp437": true, "cp65001": true,
		"": false, "cp99999": false, "latin-9000": false, "auto-detect": false,
	} {
		if got := playbook.KnownOutputEncoding(name); got != want {
			t.Errorf("KnownOutputEncoding(%q) = %v, want %v", name, got, want)
		}
	}
}
