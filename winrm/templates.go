package winrm

import (
	"crypto/rand"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// Every request of a session is one of a few messages that differ only in
// a handful of values: the endpoint URL, the shell and command IDs, the
// message ID, the command's contents. Building each through masterzen's
// DOM (a dozen elements, serialised with fmt) was a fifth of the
// controller's allocations and much of its garbage collection. So each
// kind of message is built once through the same builders with a
// placeholder in place of every value, and later messages are the
// template with the values spliced in: the same bytes the builder would
// write (TestTemplatesWriteWhatTheBuildersWrite), because the DOM writes
// contents and attributes as they are given.

// template is a serialised message cut at its placeholders: pieces[0],
// then value slots[0], pieces[1], and so on.
type template struct {
	pieces []string
	slots  []int
}

// templates caches the templates by kind and fixed parameters.
var templates sync.Map // string → *template

// placeholder marks value i in a document being made into a template. NUL
// cannot occur anywhere else in a message: URLs are escaped, IDs checked,
// contents escaped.
func placeholder(i int) string { return "\x00" + strconv.Itoa(i) + "\x00" }

var placeholderRE = regexp.MustCompile("\x00([0-9]+)\x00")

// fromTemplate returns the message of the given kind with vals in it,
// building its template with build on first use. build gets the values
// to write (placeholders when a template is made) and returns the
// document. When the document does not come apart at every placeholder
// (a builder that transforms a value), the message is built directly.
func fromTemplate(key string, vals []string, build func(vals []string) string) []byte {
	return fromTemplateInto(nil, key, vals, build)
}

// fromTemplateInto is fromTemplate writing the message into dst's
// storage when it is large enough (see messageBuffer).
func fromTemplateInto(dst []byte, key string, vals []string, build func(vals []string) string) []byte {
	if t, ok := templates.Load(key); ok {
		return t.(*template).render(dst, vals)
	}
	marks := make([]string, len(vals))
	for i := range marks {
		marks[i] = placeholder(i)
	}
	t, ok := parseTemplate(build(marks), len(vals))
	if !ok {
		return []byte(build(vals))
	}
	templates.Store(key, t)
	return t.render(dst, vals)
}

// parseTemplate cuts doc at its placeholders; every one of the n values
// must occur at least once.
func parseTemplate(doc string, n int) (*template, bool) {
	t := &template{}
	seen := make([]bool, n)
	last := 0
	for _, m := range placeholderRE.FindAllStringSubmatchIndex(doc, -1) {
		i, err := strconv.Atoi(doc[m[2]:m[3]])
		if err != nil || i >= n {
			return nil, false
		}
		t.pieces = append(t.pieces, doc[last:m[0]])
		t.slots = append(t.slots, i)
		seen[i] = true
		last = m[1]
	}
	t.pieces = append(t.pieces, doc[last:])
	for _, s := range seen {
		if !s {
			return nil, false
		}
	}
	if strings.IndexByte(strings.Join(t.pieces, ""), 0) >= 0 {
		return nil, false
	}
	return t, true
}

// render writes the template with vals into dst's storage, or, when that
// is too small, into a message allocated once.
func (t *template) render(dst []byte, vals []string) []byte {
	size := 0
	for _, p := range t.pieces {
		size += len(p)
	}
	for _, s := range t.slots {
		size += len(vals[s])
	}
	out := dst[:0]
	if cap(out) < size {
		out = make([]byte, 0, size)
	}
	for i, s := range t.slots {
		out = append(out, t.pieces[i]...)
		out = append(out, vals[s]...)
	}
	return append(out, t.pieces[len(t.pieces)-1]...)
}

// masterzenID finds the message ID masterzen/winrm's builders generate
// ("uuid:" and a lower-case version 4 UUID).
var masterzenID = regexp.MustCompile(`uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// withID replaces the one message ID a masterzen builder generated with
// id, so that a template can give every message a fresh one; an
// unexpected document (no ID, or several) is returned as it is and then
// fails as a template.
func withID(doc, id string) string {
	if len(masterzenID.FindAllStringIndex(doc, 2)) != 1 {
		return doc
	}
	return masterzenID.ReplaceAllLiteralString(doc, id)
}

// lowerMessageID is a fresh message ID written as masterzen/winrm writes
// its own: "uuid:" and a lower-case random (version 4) UUID.
func lowerMessageID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("uuid:%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// messageBufs hold large messages (a Command carrying the launcher, a few
// kilobytes) from rendering until they have been sent: a fresh buffer for
// each was first written by the render, which cost page faults as well as
// garbage collection.
var messageBufs sync.Pool // *[]byte

// maxPooledMessage is the largest buffer kept in messageBufs.
const maxPooledMessage = 64 << 10

// messageBuffer returns an empty buffer from messageBufs, nil when there
// is none; give it back with releaseMessage.
func messageBuffer() []byte {
	if p, ok := messageBufs.Get().(*[]byte); ok {
		return (*p)[:0]
	}
	return nil
}

// releaseMessage gives msg's storage to messageBufs once msg has been
// sent; msg must not be used after.
func releaseMessage(msg []byte) {
	if cap(msg) == 0 || cap(msg) > maxPooledMessage {
		return
	}
	msg = msg[:0]
	messageBufs.Put(&msg)
}
