package launcher_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/internal/hostile"
	"github.com/fleetrun/fleetrun/internal/pscheck"
	"github.com/fleetrun/fleetrun/launcher"
	"github.com/fleetrun/fleetrun/winquote"
)

const sha = "3f7a9c1e00112233445566778899aabbccddeeff00112233445566778899aabb"

// worstPath is a 260-character Windows path (MAX_PATH) made of the
// character JSON doubles, so its payload is as long as such a path's
// payload gets.
var worstPath = `C:\` + strings.Repeat(`a\`, 128) + "b"

// decodeFile undoes a file script's rendering: it checks the fixed part of
// the command and the script's marker and returns the script text and its
// payload document (from stdin when the literal is empty).
func decodeFile(t *testing.T, r launcher.Rendered, marker string) (string, map[string]any) {
	t.Helper()
	rc := r.RemoteCommand
	wantPrefix := append([]string{launcher.PowerShellExe}, launcher.PowerShellArgs()...)
	if len(rc) != len(wantPrefix)+1 {
		t.Fatalf("remote command has %d elements, want %d", len(rc), len(wantPrefix)+1)
	}
	if diff := cmp.Diff(wantPrefix, rc[:len(wantPrefix)]); diff != "" {
		t.Fatalf("remote command prefix (-want +got):\n%s", diff)
	}
	text, err := winquote.DecodeCommand(rc[len(rc)-1])
	if err != nil {
		t.Fatalf("decode -EncodedCommand: %v", err)
	}
	if first, _, _ := strings.Cut(text, "\n"); first != marker {
		t.Fatalf("script starts with %q, want the marker %q", first, marker)
	}
	m := payloadRE.FindAllStringSubmatch(text, -1)
	if len(m) != 1 {
		t.Fatalf("script has %d payload statements, want 1", len(m))
	}
	b64 := m[0][1]
	if b64 == "" {
		b64 = r.Payload()
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatalf("decode payload base64: %v", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("decode payload JSON: %v", err)
	}
	return text, doc
}

func TestRenderCopyCarriesTheFileInItsPayload(t *testing.T) {
	t.Parallel()
	r, err := launcher.RenderCopy(launcher.CopyPayload{Dest: `C:\patches\KB 5034439.msu`, SHA256: sha, Size: 104857600})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Stdin || r.Payload() != "" {
		t.Errorf("Stdin = %v, Payload %q: a copy's stdin carries the file's bytes and nothing else", r.Stdin, r.Payload())
	}
	text, doc := decodeFile(t, r, launcher.CopyMarker)
	want := map[string]any{"v": 1.0, "dest": `C:\patches\KB 5034439.msu`, "tmp": `C:\patches\KB 5034439.msu.fleetrun-3f7a9c1e0011.tmp`,
		"sha256": sha, "size": 104857600.0}
	if diff := cmp.Diff(want, doc); diff != "" {
		t.Errorf("payload (-want +got):\n%s", diff)
	}
	if lit := payloadRE.FindStringSubmatch(text); lit == nil || text != launcher.CopyText(lit[1]) {
		t.Errorf("the script sent is not the copy script's wire form:\n%s", text)
	}
}

func TestRenderFetchCarriesTheSourceAndCap(t *testing.T) {
	t.Parallel()
	r, err := launcher.RenderFetch(launcher.FetchPayload{Src: `C:\logs\*.log`, MaxBytes: 50 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if r.Stdin {
		t.Errorf("a fetch sends nothing on stdin")
	}
	_, doc := decodeFile(t, r, launcher.FetchMarker)
	want := map[string]any{"v": 1.0, "src": `C:\logs\*.log`, "max_bytes": 52428800.0}
	if diff := cmp.Diff(want, doc); diff != "" {
		t.Errorf("payload (-want +got):\n%s", diff)
	}
}

func TestRenderDownloadMovesAPayloadTooLongForTheCommandLineToStdin(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		url, dest string
		wantStdin bool
	}{
		{"a short URL", "https://repo.example/agent.msi", `C:\tmp\agent.msi`, false},
		{"a 2,000-character URL", "https://repo.example/agent.msi?sig=" + strings.Repeat("x", 2000-35), worstPath, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := launcher.DownloadPayload{URL: tc.url, Dest: tc.dest, SHA256: sha, Retries: 3, Proxy: "http://proxy.example:3128"}
			r, err := launcher.RenderDownload(p, launcher.RenderOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if r.Stdin != tc.wantStdin {
				t.Errorf("Stdin = %v, want %v", r.Stdin, tc.wantStdin)
			}
			if n := launcher.CommandLength(r.RemoteCommand); n > launcher.DefaultMaxCommandLine {
				t.Errorf("command line of %d characters, more than %d", n, launcher.DefaultMaxCommandLine)
			}
			_, doc := decodeFile(t, r, launcher.DownloadMarker)
			want := map[string]any{"v": 1.0, "url": tc.url, "dest": tc.dest, "tmp": tc.dest + ".fleetrun-3f7a9c1e0011.tmp",
				"sha256": sha, "retries": 3.0, "proxy": "http://proxy.example:3128"}
			if diff := cmp.Diff(want, doc); diff != "" {
				t.Errorf("payload (-want +got):\n%s", diff)
			}
			// Over SSM the same script goes as text, its payload inline.
			script, err := launcher.DownloadScript(p)
			if err != nil {
				t.Fatal(err)
			}
			inline, err := launcher.RenderDownload(p, launcher.RenderOptions{MaxCommandLine: 1 << 30})
			if err != nil {
				t.Fatal(err)
			}
			text, _ := decodeFile(t, inline, launcher.DownloadMarker)
			if script != text {
				t.Errorf("DownloadScript differs from the inline script WinRM would send")
			}
		})
	}
}

func TestWorstCasePayloadsFitTheCommandLine(t *testing.T) {
	t.Parallel()
	if len(worstPath) != 260 {
		t.Fatalf("worst path is %d characters", len(worstPath))
	}
	copyR, err := launcher.RenderCopy(launcher.CopyPayload{Dest: worstPath, SHA256: sha, Size: 1 << 50})
	if err != nil {
		t.Fatal(err)
	}
	fetchR, err := launcher.RenderFetch(launcher.FetchPayload{Src: worstPath[:len(worstPath)-1] + "*", MaxBytes: 1 << 50})
	if err != nil {
		t.Fatal(err)
	}
	downloadR, err := launcher.RenderDownload(launcher.DownloadPayload{URL: "https://r.example/" + strings.Repeat("u", 1982),
		Dest: worstPath, SHA256: sha, Retries: 100, Proxy: "http://" + strings.Repeat("p", 200) + ":3128"}, launcher.RenderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]launcher.Rendered{"copy": copyR, "fetch": fetchR, "download": downloadR} {
		// cmd.exe's limit is 8191; the renderer keeps DefaultMaxCommandLine's margin.
		if n := launcher.CommandLength(r.RemoteCommand); n > launcher.DefaultMaxCommandLine {
			t.Errorf("%s: the command line is %d characters, more than %d", name, n, launcher.DefaultMaxCommandLine)
		}
	}
	// A path far beyond MAX_PATH is refused rather than sent.
	if _, err := launcher.RenderCopy(launcher.CopyPayload{Dest: worstPath + strings.Repeat(`\x`, 200), SHA256: sha}); err == nil ||
		!strings.Contains(err.Error(), "command line") {
		t.Errorf("a 660-character destination: err = %v, want one about the command line", err)
	}
}

func TestFileRenderersRefuseWhatTheScriptsCannotCarry(t *testing.T) {
	t.Parallel()
	okDL := launcher.DownloadPayload{URL: "https://r.example/a.msi", Dest: `C:\a.msi`, SHA256: sha}
	tests := []struct {
		name   string
		render func() error
		want   string
	}{
		{"an empty copy destination", func() error {
			_, err := launcher.RenderCopy(launcher.CopyPayload{Dest: "", SHA256: sha})
			return err
		}, "copy destination is empty"},
		{"a wildcard in a copy destination", func() error {
			_, err := launcher.RenderCopy(launcher.CopyPayload{Dest: `C:\a\*.txt`, SHA256: sha})
			return err
		}, "wildcard"},
		{"an upper-case hash", func() error {
			_, err := launcher.RenderCopy(launcher.CopyPayload{Dest: `C:\a`, SHA256: strings.ToUpper(sha)})
			return err
		}, "not 64 lower-case hex digits"},
		{"a negative size", func() error {
			_, err := launcher.RenderCopy(launcher.CopyPayload{Dest: `C:\a`, SHA256: sha, Size: -1})
			return err
		}, "negative size"},
		{"a line break in a path", func() error {
			_, err := launcher.RenderFetch(launcher.FetchPayload{Src: "C:\\a\nb"})
			return err
		}, "control character"},
		{"a pipe in a path", func() error {
			_, err := launcher.RenderFetch(launcher.FetchPayload{Src: `C:\a|b`})
			return err
		}, "Windows refuses"},
		{"an ftp URL", func() error {
			p := okDL
			p.URL = "ftp://r.example/a.msi"
			_, err := launcher.DownloadScript(p)
			return err
		}, "not an http:// or https:// URL"},
		{"a space in a URL", func() error {
			p := okDL
			p.URL = "https://r.example/a b.msi"
			_, err := launcher.RenderDownload(p, launcher.RenderOptions{})
			return err
		}, "spaces or control characters"},
		{"a proxy that is no URL", func() error {
			p := okDL
			p.Proxy = "proxy:3128"
			_, err := launcher.DownloadScript(p)
			return err
		}, "download proxy"},
		{"negative retries", func() error {
			p := okDL
			p.Retries = -1
			_, err := launcher.DownloadScript(p)
			return err
		}, "outside 0..100"},
		{"a missing hash", func() error {
			p := okDL
			p.SHA256 = ""
			_, err := launcher.DownloadScript(p)
			return err
		}, "sha256"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.render()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestFileScriptsAreValidPowerShell(t *testing.T) {
	t.Parallel()
	copyR, err := launcher.RenderCopy(launcher.CopyPayload{Dest: worstPath, SHA256: sha, Size: 5})
	if err != nil {
		t.Fatal(err)
	}
	copyText, _ := decodeFile(t, copyR, launcher.CopyMarker)
	dl, err := launcher.DownloadScript(launcher.DownloadPayload{URL: "https://r.example/a.msi", Dest: `C:\a.msi`, SHA256: sha})
	if err != nil {
		t.Fatal(err)
	}
	fetchR, err := launcher.RenderFetch(launcher.FetchPayload{Src: `C:\logs\*.log`, MaxBytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	fetchText, _ := decodeFile(t, fetchR, launcher.FetchMarker)
	pscheck.Clean(t, "..",
		pscheck.Text{Name: "copy.ps1", Text: launcher.CopySource()},
		pscheck.Text{Name: "download.ps1", Text: launcher.DownloadSource()},
		pscheck.Text{Name: "fetch.ps1", Text: launcher.FetchSource()},
		pscheck.Text{Name: "copy (wire)", Text: copyText},
		pscheck.Text{Name: "download (wire, inline)", Text: dl},
		pscheck.Text{Name: "download (wire, stdin)", Text: launcher.DownloadText("")},
		pscheck.Text{Name: "fetch (wire)", Text: fetchText},
	)
}

func TestFileScriptsMatchGolden(t *testing.T) {
	t.Parallel()
	checkGolden(t, "copy.wire.ps1", []byte(launcher.CopyText("")))
	checkGolden(t, "download.wire.ps1", []byte(launcher.DownloadText("")))
	checkGolden(t, "fetch.wire.ps1", []byte(launcher.FetchText("")))
}

func TestParseFileOutput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		download bool
		out      string
		want     launcher.FileOutput
		wantErr  string
	}{
		{"copy: unchanged", false, "U\n", launcher.FileOutput{Unchanged: true}, ""},
		{"copy: written", false, "W\nD " + sha + "\n", launcher.FileOutput{Ready: true, Done: true, SHA256: sha}, ""},
		{"copy: ready, the rest not yet here", false, "W\nD 3f7a", launcher.FileOutput{Ready: true}, ""},
		{"copy: CR LF line ends", false, "W\r\nD " + sha + "\r\n", launcher.FileOutput{Ready: true, Done: true, SHA256: sha}, ""},
		{"copy: nothing yet", false, "", launcher.FileOutput{}, ""},
		{"copy: a bad hash", false, "W\nD xyz\n", launcher.FileOutput{Ready: true}, "carries no SHA-256"},
		{"copy: a line after the end", false, "U\nW\n", launcher.FileOutput{Unchanged: true}, "after its final line"},
		{"copy: W twice", false, "W\nW\n", launcher.FileOutput{Ready: true}, "unexpected line"},
		{"copy: a download's T line", false, "T 1 x\n", launcher.FileOutput{}, "unexpected line"},
		{"download: done after two tries", true, "T 1 (503) Server Unavailable.\nT 2 timed out\nD " + sha + " 1048576\n",
			launcher.FileOutput{Done: true, SHA256: sha, Size: 1048576, Tries: []string{"(503) Server Unavailable.", "timed out"}}, ""},
		{"download: unchanged", true, "U 1500000\n", launcher.FileOutput{Unchanged: true, Size: 1500000}, ""},
		{"download: unchanged without its size", true, "U\n", launcher.FileOutput{}, "carries no size"},
		{"download: unchanged with a negative size", true, "U -1\n", launcher.FileOutput{}, "carries no size"},
		{"download: tries out of order", true, "T 2 x\n", launcher.FileOutput{}, "does not number the next try"},
		{"download: no size", true, "D " + sha + "\n", launcher.FileOutput{}, "no SHA-256 and size"},
		{"download: a copy's W", true, "W\n", launcher.FileOutput{}, "unexpected line"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			parse := launcher.ParseCopyOutput
			if tc.download {
				parse = launcher.ParseDownloadOutput
			}
			got, err := parse([]byte(tc.out))
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTmpNameIsTheDestinationAndTheHashPrefix(t *testing.T) {
	t.Parallel()
	if got := launcher.TmpName(`C:\tmp\agent.msi`, sha); got != `C:\tmp\agent.msi.fleetrun-3f7a9c1e0011.tmp` {
		t.Errorf("TmpName = %q", got)
	}
}

// Every path the renderers accept comes back exactly from the payload,
// whatever it holds (the hostile-argument corpus as file names).
func TestFilePayloadsCarryHostilePathsExactly(t *testing.T) {
	t.Parallel()
	accepted := 0
	for _, arg := range hostile.Args(t) {
		dest := `C:\stage\` + arg
		r, err := launcher.RenderCopy(launcher.CopyPayload{Dest: dest, SHA256: sha, Size: 1})
		if err != nil {
			continue
		}
		accepted++
		_, doc := decodeFile(t, r, launcher.CopyMarker)
		if doc["dest"] != dest || doc["tmp"] != launcher.TmpName(dest, sha) {
			t.Errorf("copy to %q came back as %q", dest, doc["dest"])
		}
		fr, err := launcher.RenderFetch(launcher.FetchPayload{Src: dest, MaxBytes: 1})
		if err != nil {
			t.Errorf("fetch of %q refused where copy accepted it: %v", dest, err)
			continue
		}
		if _, doc := decodeFile(t, fr, launcher.FetchMarker); doc["src"] != dest {
			t.Errorf("fetch of %q came back as %q", dest, doc["src"])
		}
	}
	if accepted == 0 {
		t.Fatal("no hostile path was accepted")
	}
}
