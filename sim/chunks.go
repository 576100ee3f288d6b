package sim

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"sync"
)

// Large files (what copy and download steps write) keep their bytes in a
// store of chunks shared by every host of a fleet and addressed by their
// SHA-256: a hundred hosts holding the same 100 MB file cost the store
// 100 MB, not 10 GB. A chunk is immutable once stored and is freed when
// the last file using it is removed or replaced.

// chunkSize is how a stored file is cut.
const chunkSize = 1 << 20

// chunkStore is a fleet's shared chunks.
type chunkStore struct {
	mu     sync.Mutex
	chunks map[[sha256.Size]byte]*chunk
	bytes  int64
}

// chunk is one stored piece of content; refs counts the files using it
// (a file using it twice counts twice).
type chunk struct {
	sum  [sha256.Size]byte
	data []byte
	refs int
}

func newChunkStore() *chunkStore {
	return &chunkStore{chunks: map[[sha256.Size]byte]*chunk{}}
}

// intern stores a copy of data, unless the same bytes are stored already,
// and returns its chunk with one more reference.
func (s *chunkStore) intern(data []byte) *chunk {
	sum := sha256.Sum256(data)
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.chunks[sum]; ok {
		c.refs++
		return c
	}
	// An exact-size copy: the caller's buffer may be larger than what it
	// holds (the last chunk of a file) and is reused.
	c := &chunk{sum: sum, data: append(make([]byte, 0, len(data)), data...), refs: 1}
	s.chunks[sum] = c
	s.bytes += int64(len(data))
	return c
}

// retain adds a reference to every chunk of a file.
func (s *chunkStore) retain(cs []*chunk) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range cs {
		c.refs++
	}
}

// release drops a reference to every chunk of a file, freeing those no
// file uses any more.
func (s *chunkStore) release(cs []*chunk) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range cs {
		c.refs--
		if c.refs <= 0 {
			delete(s.chunks, c.sum)
			s.bytes -= int64(len(c.data))
		}
	}
}

// ChunkStoreStats say what a fleet's shared file content costs.
type ChunkStoreStats struct {
	// Chunks is the number of distinct chunks stored; Bytes their total
	// size, what the store holds in memory.
	Chunks int   `json:"chunks"`
	Bytes  int64 `json:"bytes"`
}

func (s *chunkStore) stats() ChunkStoreStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ChunkStoreStats{Chunks: len(s.chunks), Bytes: s.bytes}
}

// bigContent is a file held in the chunk store: immutable, shared by the
// vfs entries that hold it (each holding one set of references).
type bigContent struct {
	chunks []*chunk
	size   int64
	sum    string // lower-case hex SHA-256 of the whole file
}

// bytes returns a copy of the whole content.
func (b *bigContent) bytes() []byte {
	out := make([]byte, 0, b.size)
	for _, c := range b.chunks {
		out = append(out, c.data...)
	}
	return out
}

// readAt copies up to n bytes from offset off.
func (b *bigContent) readAt(off int64, n int) []byte {
	var out []byte
	pos := int64(0)
	for _, c := range b.chunks {
		end := pos + int64(len(c.data))
		if off < end && len(out) < n {
			from := max(off-pos, 0)
			take := min(int64(len(c.data))-from, int64(n-len(out)))
			out = append(out, c.data[from:from+take]...)
		}
		pos = end
		if len(out) >= n {
			break
		}
	}
	return out
}

// chunkWriter streams a file into the store, holding at most one chunk of
// it in its own buffer (grown as the file is, so a small file costs
// little); Finish returns the stored content, Abort gives
// back what was stored.
type chunkWriter struct {
	store  *chunkStore
	buf    []byte
	chunks []*chunk
	size   int64
	hash   hash.Hash
	done   bool
}

func newChunkWriter(s *chunkStore) *chunkWriter {
	return &chunkWriter{store: s, hash: sha256.New()}
}

func (w *chunkWriter) Write(p []byte) (int, error) {
	n := len(p)
	_, _ = w.hash.Write(p) // hash writes never fail
	w.size += int64(n)
	for len(p) > 0 {
		take := min(len(p), chunkSize-len(w.buf))
		w.buf = append(w.buf, p[:take]...)
		p = p[take:]
		if len(w.buf) == chunkSize {
			w.flush()
		}
	}
	return n, nil
}

func (w *chunkWriter) flush() {
	if len(w.buf) == 0 {
		return
	}
	w.chunks = append(w.chunks, w.store.intern(w.buf))
	w.buf = w.buf[:0]
}

// Sum is the SHA-256 of what was written so far.
func (w *chunkWriter) Sum() string { return hex.EncodeToString(w.hash.Sum(nil)) }

// Finish stores the last partial chunk and returns the content; the
// caller owns its references.
func (w *chunkWriter) Finish() *bigContent {
	w.flush()
	w.buf = nil
	w.done = true
	return &bigContent{chunks: w.chunks, size: w.size, sum: w.Sum()}
}

// Abort releases what was stored; it does nothing after Finish.
func (w *chunkWriter) Abort() {
	if w.done {
		return
	}
	w.done = true
	w.store.release(w.chunks)
	w.chunks, w.buf = nil, nil
}
