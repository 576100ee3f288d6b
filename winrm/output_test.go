package winrm

import (
	"testing"

	"golang.org/x/text/encoding/japanese"
)

// A stream is decoded as a whole: however its bytes were cut into Receive
// answers (here at every possible place, twice), auto and a named code
// page give the same text as one piece would; and a capture that dropped
// the middle of UTF-8 output, cutting a character, still reads as UTF-8.
func TestCaptureDecodesCharactersSplitAcrossWrites(t *testing.T) {
	t.Parallel()
	sjis := []byte{0x93, 0xfa, 0x96, 0x7b, 0x8c, 0xea, '\r', '\n'} // 日本語 in CP932
	tests := []struct {
		name  string
		bytes []byte
		step  string
		want  string
	}{
		{"UTF-8 under auto", []byte("日本語\r\n"), "auto", "日本語\r\n"},
		{"CP932 under auto", sjis, "", "日本語\r\n"},
		{"CP932 named", sjis, "cp932", "日本語\r\n"},
		{"CP932 read as UTF-8", sjis, "utf-8", "\uFFFD{\uFFFD\r\n"},
	}
	for _, tt := range tests {
		step, err := StepEncoding(tt.step)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i <= len(tt.bytes); i++ {
			for j := i; j <= len(tt.bytes); j++ {
				c := &capture{max: 1 << 10}
				for _, part := range [][]byte{tt.bytes[:i], tt.bytes[i:j], tt.bytes[j:]} {
					if _, err := c.Write(part); err != nil {
						t.Fatal(err)
					}
				}
				if got := c.decode(step, japanese.ShiftJIS); got != tt.want {
					t.Errorf("%s cut at %d and %d: %q, want %q", tt.name, i, j, got, tt.want)
				}
			}
		}
	}
}

func TestAutoKeepsTruncatedUTF8AsUTF8(t *testing.T) {
	t.Parallel()
	// 41 of 120 bytes of 3-byte characters kept: the head (10 bytes) and
	// the tail (31 bytes) both cut a character.
	c := &capture{max: 41}
	for range 40 {
		if _, err := c.Write([]byte("日")); err != nil {
			t.Fatal(err)
		}
	}
	got := c.decode(nil, japanese.ShiftJIS)
	want := "日日日\uFFFD\r\n[... fleetrun kept the first and last bytes of this output; 79 bytes in between are in --log-dir ...]\r\n\uFFFD日日日日日日日日日日"
	if got != want {
		t.Errorf("decoded %q, want %q", got, want)
	}
}
