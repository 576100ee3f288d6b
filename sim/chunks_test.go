package sim

import (
	"bytes"
	"testing"
)

func TestChunkStore(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		size   int
		writes []int // sizes of the Writes, repeated to the end
		chunks int
	}{
		{"empty", 0, []int{1}, 0},
		{"small", 100, []int{7}, 1},
		{"one chunk exactly", chunkSize, []int{chunkSize}, 1},
		{"over a boundary in odd writes", 2*chunkSize + 5, []int{333_333, 1, 65536}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newChunkStore()
			data := pattern(tt.size, byte(tt.size))
			write := func() *bigContent {
				w := newChunkWriter(s)
				for off, i := 0, 0; off < len(data); i++ {
					n := min(tt.writes[i%len(tt.writes)], len(data)-off)
					if _, err := w.Write(data[off : off+n]); err != nil {
						t.Fatal(err)
					}
					off += n
				}
				return w.Finish()
			}
			a, b := write(), write()
			if a.size != int64(tt.size) || a.sum != sha256Hex(data) || !bytes.Equal(a.bytes(), data) {
				t.Fatalf("content: size %d, sum %s, bytes equal %v", a.size, a.sum, bytes.Equal(a.bytes(), data))
			}
			if got := s.stats(); got != (ChunkStoreStats{Chunks: tt.chunks, Bytes: int64(tt.size)}) {
				t.Errorf("two copies stored as %+v, want %d chunks, %d bytes", got, tt.chunks, tt.size)
			}
			for _, r := range [][2]int{{0, 10}, {tt.size / 2, chunkSize}, {max(tt.size-3, 0), 10}, {tt.size, 5}} {
				want := data[min(r[0], tt.size):min(r[0]+r[1], tt.size)]
				if got := a.readAt(int64(r[0]), r[1]); !bytes.Equal(got, want) && len(want) > 0 {
					t.Errorf("readAt(%d, %d): %d bytes, want %d", r[0], r[1], len(got), len(want))
				}
			}
			s.release(a.chunks)
			if got := s.stats().Bytes; got != int64(tt.size) {
				t.Errorf("after releasing one copy: %d bytes", got)
			}
			s.release(b.chunks)
			w := newChunkWriter(s)
			_, _ = w.Write(data)
			w.Abort()
			if got := s.stats(); got != (ChunkStoreStats{}) {
				t.Errorf("after releasing everything: %+v", got)
			}
		})
	}
}
