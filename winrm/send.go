package winrm

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"sync"

	mz "github.com/masterzen/winrm"

	"github.com/fleetrun/fleetrun/transport"
)

// A copy sends a file's bytes as stdin, in Send requests each holding as
// much as the host's MaxEnvelopeSizekb allows: 110 KB of a file per Send
// on a WinRM 2.0 host, 370 KB on a newer one. Every host of a fleet reads
// the same transport.Blob, so nothing is held per file; what a Send holds
// is a chunk, its message (the chunk in base64, a third larger) and, over
// NTLM, the sealed copy of the message. sendGate bounds how many Sends
// are being built and sent at once across the process, and their buffers
// come from a pool, so the memory a copy takes grows neither with the
// file's size nor with the number of hosts copying at once.

// sendGate bounds the Sends of file bytes in flight across the process.
// A place is held while the chunk is read, the message built and sent,
// and its answer read: mostly waiting on the network, so the bound is
// several per core rather than one.
var sendGate = make(chan struct{}, max(16, 8*runtime.GOMAXPROCS(0)))

// sendBuffer is one Send's memory: the chunk read from the file and the
// message built from it.
type sendBuffer struct {
	chunk, msg []byte
}

var sendBuffers = sync.Pool{New: func() any { return new(sendBuffer) }}

// sendSlot is what masterzen/winrm writes for the Send content
// base64("fleetrun-send-slot"): a template's content goes there.
const sendSlot = "ZmxlZXRydW4tc2VuZC1zbG90"

// sendTemplate is the Send message of the given timeout and end flag as a
// template (templates.go) with values url, shell ID, command ID, message
// ID and the base64 content (slot 4).
func sendTemplate(timeout string, end bool) *template {
	key := "send " + timeout + " " + strconv.FormatBool(end)
	if t, ok := templates.Load(key); ok {
		return t.(*template)
	}
	slotBytes, _ := base64.StdEncoding.DecodeString(sendSlot) // a constant that decodes
	marks := []string{placeholder(0), placeholder(1), placeholder(2), placeholder(3), placeholder(4)}
	doc := withID(mz.NewSendInputRequest(marks[0], marks[1], marks[2], slotBytes, end, params(timeout)).String(), marks[3])
	t, ok := parseTemplate(strings.Replace(doc, sendSlot, marks[4], 1), len(marks))
	if !ok {
		// The builders are fixed code; a template that does not come
		// apart is a bug that the tests catch.
		panic("winrm: the Send message does not make a template")
	}
	templates.Store(key, t)
	return t
}

// appendSendMessage appends to dst the Send request carrying data as
// stdin (End="true" when end), byte for byte what masterzen/winrm's
// NewSendInputRequest writes, with a fresh message ID.
func appendSendMessage(dst []byte, url, timeout, shellID, commandID string, data []byte, end bool) []byte {
	if len(data) == 0 {
		// The builder writes an empty Stream as <rsp:Stream .../>.
		return append(dst, sendMessage(url, timeout, shellID, commandID, nil, end)...)
	}
	t := sendTemplate(timeout, end)
	vals := [4]string{url, shellID, commandID, lowerMessageID()}
	for i, s := range t.slots {
		dst = append(dst, t.pieces[i]...)
		if s == 4 {
			dst = base64.StdEncoding.AppendEncode(dst, data)
		} else {
			dst = append(dst, vals[s]...)
		}
	}
	return append(dst, t.pieces[len(t.pieces)-1]...)
}

// sendBlob sends the whole of b as the command's stdin, in Sends that fit
// the host's MaxEnvelopeSizekb, the last with End="true", and returns how
// many bytes it sent. origin names b in errors. s.mu is held.
func (s *Session) sendBlob(ctx context.Context, commandID string, b transport.Blob, origin string) (int64, error) {
	chunk := int64(sendChunkSize(s.maxEnvelopeKB(ctx)))
	size := b.Size()
	var off int64
	for {
		n := min(chunk, size-off)
		end := off+n == size
		if err := s.sendChunk(ctx, commandID, b, origin, off, int(n), end); err != nil {
			return off, err
		}
		off += n
		if end {
			return off, nil
		}
	}
}

// sendChunk sends n bytes of b from off, holding a place in sendGate and a
// pooled buffer while it does.
func (s *Session) sendChunk(ctx context.Context, commandID string, b transport.Blob, origin string, off int64, n int, end bool) error {
	select {
	case sendGate <- struct{}{}:
	case <-ctx.Done():
		return contextError(ctx, s.name)
	}
	defer func() { <-sendGate }()
	buf := sendBuffers.Get().(*sendBuffer)
	defer sendBuffers.Put(buf)
	if cap(buf.chunk) < n {
		buf.chunk = make([]byte, n)
	}
	data := buf.chunk[:n]
	k, err := b.ReadAt(data, off)
	if k < n {
		if err == nil || errors.Is(err, io.EOF) {
			err = fmt.Errorf("the file ended at %d bytes; it was %d when the step started", off+int64(k), b.Size())
		}
		return &transport.Error{Class: transport.ClassInternal, Err: err,
			Message: fmt.Sprintf("%s: read %s: %v", s.name, origin, err)}
	}
	buf.msg = appendSendMessage(buf.msg[:0], s.ep.url, s.opXS(), s.shellID, commandID, data, end)
	_, err = s.ep.post(ctx, "Send", buf.msg, s.opts.OperationTimeout)
	return err
}
