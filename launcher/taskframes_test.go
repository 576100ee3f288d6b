package launcher_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/fleetrun/fleetrun/launcher"
)

// framesView is what a TaskFrames has read, for comparison.
type framesView struct {
	Stdout, Stderr    string
	Out, ErrBytes     int64
	Started, Attached bool
	End               launcher.TaskEnd
	ExitCode          uint32
	LastResult        uint32
	Killed            int
}

func viewOf(f *launcher.TaskFrames, stdout, stderr *bytes.Buffer) framesView {
	return framesView{Stdout: stdout.String(), Stderr: stderr.String(), Out: f.Out, ErrBytes: f.ErrBytes,
		Started: f.Started, Attached: f.Attached, End: f.End, ExitCode: f.ExitCode, LastResult: f.LastResult, Killed: f.Killed}
}

// frame is a data frame as the task script writes it.
func frame(tag, data string) string { return fmt.Sprintf("%s %d\n%s", tag, len(data), data) }

type framesCase struct {
	name          string
	in            string
	out, err      int64 // offsets the request carried
	want          framesView
	wantErr       string
	skipChunkings bool // only the whole stream and a few random splits (large inputs)
}

// framesCases are streams of the task script and what TaskFrames makes of
// them; FuzzTaskFrames starts from them too.
func framesCases() []framesCase {
	mib := strings.Repeat("x", 1<<20)
	long := "O " + strings.Repeat("0", 254) + "1" // 257 bytes
	return []framesCase{
		{name: "a run starts the task, copies both streams and ends with the exit code",
			in:   "S started\n" + frame("O", "hello ") + frame("E", "oops") + frame("O", "world\n") + "X 0\n",
			want: framesView{Stdout: "hello world\n", Stderr: "oops", Out: 12, ErrBytes: 4, Started: true, End: launcher.TaskEndExit}},
		{name: "a follow attaches and counts from the offsets the request carried",
			in: "S attached\n" + frame("O", "ab") + frame("E", "c") + "R\n", out: 100, err: 7,
			want: framesView{Stdout: "ab", Stderr: "c", Out: 102, ErrBytes: 8, Attached: true, End: launcher.TaskEndRunning}},
		{name: "data holding line feeds and frame-like text is data",
			in:   frame("O", "X 1\nO 3\nE 9\nS started\nR\n\n") + frame("E", "N\nK 2\n") + "X 1\n",
			want: framesView{Stdout: "X 1\nO 3\nE 9\nS started\nR\n\n", Stderr: "N\nK 2\n", Out: 25, ErrBytes: 6, End: launcher.TaskEndExit, ExitCode: 1}},
		{name: "CR LF and NUL bytes pass through untouched",
			in:   frame("O", "line 1\r\nline 2\r\n") + frame("E", "\x00\x01\x00\r\n") + frame("O", "\x00") + "X 3010\n",
			want: framesView{Stdout: "line 1\r\nline 2\r\n\x00", Stderr: "\x00\x01\x00\r\n", Out: 17, ErrBytes: 5, End: launcher.TaskEndExit, ExitCode: 3010}},
		{name: "a data frame of the largest size", in: frame("O", mib) + "X 0\n", skipChunkings: true,
			want: framesView{Stdout: mib, Out: 1 << 20, End: launcher.TaskEndExit}},
		{name: "a header of 256 bytes is read", in: "O " + strings.Repeat("0", 253) + "1\nz" + "N\n",
			want: framesView{Stdout: "z", Out: 1, End: launcher.TaskEndMissing}},
		{name: "the lowest exit code is 0x80000000", in: "X -2147483648\n",
			want: framesView{End: launcher.TaskEndExit, ExitCode: 2147483648}},
		{name: "an NTSTATUS exit code written by cmd.exe as a negative number", in: "X -1073741819\n",
			want: framesView{End: launcher.TaskEndExit, ExitCode: 3221225477}},
		{name: "exit code -1 is 0xFFFFFFFF", in: "X -1\n",
			want: framesView{End: launcher.TaskEndExit, ExitCode: 4294967295}},
		{name: "the highest exit code", in: "X 4294967295\n",
			want: framesView{End: launcher.TaskEndExit, ExitCode: 4294967295}},
		{name: "the highest positive int32 exit code", in: "X 2147483647\n",
			want: framesView{End: launcher.TaskEndExit, ExitCode: 2147483647}},
		{name: "a task lost without an exit code reports its last result", in: "S attached\nL 267014\n",
			want: framesView{Attached: true, End: launcher.TaskEndLost, LastResult: 267014}},
		{name: "a negative last result is a DWORD", in: "L -2147020576\n",
			want: framesView{End: launcher.TaskEndLost, LastResult: 2147946720}},
		{name: "no such task", in: "N\n", want: framesView{End: launcher.TaskEndMissing}},
		{name: "stop ended two process trees", in: "K 2\n", want: framesView{End: launcher.TaskEndStopped, Killed: 2}},
		{name: "stop ended none", in: "K 0\n", want: framesView{End: launcher.TaskEndStopped}},
		{name: "forget is done", in: "F\n", want: framesView{End: launcher.TaskEndForgotten}},
		{name: "an empty stream", in: "", want: framesView{}},
		{name: "a stream without its final frame yet", in: "S started\n" + frame("O", "a"),
			want: framesView{Stdout: "a", Out: 1, Started: true}},

		{name: "an unknown tag", in: "S started\nZ 1\n",
			want: framesView{Started: true}, wantErr: `task script: unknown frame "Z 1"`},
		{name: "a lower-case tag", in: "x 0\n", wantErr: `task script: unknown frame "x 0"`},
		{name: "an empty header line", in: "\n", wantErr: `task script: unknown frame ""`},
		{name: "an unknown start frame", in: "S restarted\n", wantErr: `task script: unknown start frame "S restarted"`},
		{name: "a final frame with an argument it does not take", in: "N 1\n", wantErr: `task script: unknown frame "N 1"`},
		{name: "a non-numeric size", in: "O five\nfive", wantErr: `task script: frame "O five": strconv.ParseInt: parsing "five": invalid syntax`},
		{name: "a size of 0", in: "O 0\n", wantErr: `task script: frame "O 0": size out of range`},
		{name: "a negative size", in: "E -3\n", wantErr: `task script: frame "E -3": size out of range`},
		{name: "a size over the limit", in: "O 1048577\n", wantErr: `task script: frame "O 1048577": size out of range`},
		{name: "a header ending in CR LF", in: "X 0\r\n", wantErr: `task script: frame "X 0\r": strconv.ParseInt: parsing "0\r": invalid syntax`},
		{name: "an exit frame without a code", in: "X\n", wantErr: `task script: frame "X": strconv.ParseInt: parsing "": invalid syntax`},
		{name: "an exit code below -2147483648", in: "X -2147483649\n", wantErr: `task script: frame "X -2147483649": not a 32-bit code`},
		{name: "an exit code above 4294967295", in: "X 4294967296\n", wantErr: `task script: frame "X 4294967296": not a 32-bit code`},
		{name: "a last result above 4294967295", in: "L 4294967296\n", wantErr: `task script: frame "L 4294967296": not a 32-bit code`},
		{name: "an exit code beyond int64", in: "X 99999999999999999999\n",
			wantErr: `task script: frame "X 99999999999999999999": strconv.ParseInt: parsing "99999999999999999999": value out of range`},
		{name: "a negative count of ended process trees", in: "K -1\n", wantErr: `task script: frame "K -1": count out of range`},
		{name: "a count of ended process trees beyond int32", in: "K 2147483648\n", wantErr: `task script: frame "K 2147483648": count out of range`},
		{name: "a data frame after the final one", in: "X 0\n" + frame("O", "a"),
			want: framesView{End: launcher.TaskEndExit}, wantErr: `task script: frame "O 1" after the final one`},
		{name: "a second final frame", in: "R\nR\n",
			want: framesView{End: launcher.TaskEndRunning}, wantErr: `task script: frame "R" after the final one`},
		{name: "a header longer than 256 bytes", in: "S started\n" + long + "\nx",
			want:    framesView{Started: true},
			wantErr: `task script: a frame header longer than 256 bytes: "O ` + strings.Repeat("0", 38) + `"`},
		{name: "a header longer than 256 bytes that never ends", in: strings.Repeat("S", 300),
			wantErr: `task script: a frame header longer than 256 bytes: "` + strings.Repeat("S", 40) + `"`},
		{name: "the stream ends inside data", in: "O 5\nab",
			want: framesView{Stdout: "ab", Out: 2}, wantErr: `task script: output ended with 3 bytes of a data frame missing`},
		{name: "the stream ends inside a header", in: "S started\nX 0",
			want: framesView{Started: true}, wantErr: `task script: output ended inside a frame header "X 0"`},
	}
}

// chunkings splits in as it may arrive: whole, byte by byte, and in random
// pieces (some empty) from fixed seeds.
func chunkings(in []byte, all bool) map[string][][]byte {
	out := map[string][][]byte{"whole stream": {in}}
	if all {
		bytewise := make([][]byte, len(in))
		for i := range in {
			bytewise[i] = in[i : i+1]
		}
		out["byte by byte"] = bytewise
	}
	for seed := range uint64(6) {
		r := rand.New(rand.NewPCG(seed, 0x5eed))
		var chunks [][]byte
		for rest := in; len(rest) > 0; {
			n := min(len(rest), r.IntN(24))
			if !all {
				n = min(len(rest), r.IntN(1<<18))
			}
			chunks = append(chunks, rest[:n])
			rest = rest[n:]
		}
		out[fmt.Sprintf("random split, seed %d", seed)] = chunks
	}
	return out
}

// feed writes chunks to a fresh TaskFrames and returns what it read and
// the stream's error: the first error of Write, else Check's. A Write
// error must be what Check then reports.
func feed(t *testing.T, chunks [][]byte, out, errOff int64) (framesView, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	f := &launcher.TaskFrames{Stdout: &stdout, Stderr: &stderr, Out: out, ErrBytes: errOff}
	var writeErr error
	for _, c := range chunks {
		n, err := f.Write(c)
		if err == nil && n != len(c) {
			t.Fatalf("Write of %d bytes returned %d without an error", len(c), n)
		}
		if err != nil {
			writeErr = err
			break
		}
	}
	checkErr := f.Check()
	if writeErr != nil && (checkErr == nil || checkErr.Error() != writeErr.Error()) {
		t.Fatalf("Write failed with %q but Check says %v", writeErr, checkErr)
	}
	return viewOf(f, &stdout, &stderr), checkErr
}

func TestTaskFramesInEveryChunking(t *testing.T) {
	t.Parallel()
	for _, tc := range framesCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for how, chunks := range chunkings([]byte(tc.in), !tc.skipChunkings) {
				got, err := feed(t, chunks, tc.out, tc.err)
				gotErr := ""
				if err != nil {
					gotErr = err.Error()
				}
				if gotErr != tc.wantErr {
					t.Errorf("%s: error %q, want %q", how, gotErr, tc.wantErr)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("%s: frames (-want +got):\n%s", how, diff)
				}
			}
		})
	}
}

// FuzzTaskFrames checks that TaskFrames never panics, never counts more
// output than it was given, passes on exactly what it counts, and reads a
// stream the same however it is split.
func FuzzTaskFrames(f *testing.F) {
	for _, tc := range framesCases() {
		if !tc.skipChunkings {
			f.Add([]byte(tc.in), uint(len(tc.in)/2))
		}
	}
	f.Fuzz(func(t *testing.T, in []byte, cut uint) {
		const out, errOff = 5, 9
		whole, wholeErr := feed(t, [][]byte{in}, out, errOff)
		at := int(cut % uint(len(in)+1))
		split, splitErr := feed(t, [][]byte{in[:at], in[at:]}, out, errOff)
		for _, v := range []framesView{whole, split} {
			o, e := v.Out-out, v.ErrBytes-errOff
			if o < 0 || e < 0 || o+e > int64(len(in)) {
				t.Fatalf("offsets %d and %d after %d bytes from %d and %d", v.Out, v.ErrBytes, len(in), out, errOff)
			}
			if int64(len(v.Stdout)) != o || int64(len(v.Stderr)) != e {
				t.Fatalf("counted %d and %d bytes but passed on %d and %d", o, e, len(v.Stdout), len(v.Stderr))
			}
		}
		if diff := cmp.Diff(whole, split); diff != "" {
			t.Fatalf("split at %d (-whole +split):\n%s", at, diff)
		}
		if fmt.Sprint(wholeErr) != fmt.Sprint(splitErr) {
			t.Fatalf("split at %d: error %v, whole stream %v", at, splitErr, wholeErr)
		}
	})
}
