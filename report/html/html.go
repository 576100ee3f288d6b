// Package html renders a fleetrun JSON report as one self-contained HTML
// page: a header with the counts, the failures, a timeline of batches and
// hosts, per-step duration statistics and every host's steps with output.
//
// It reads only the report document (report.Document), so it renders a
// report saved by any fleetrun version, and leaves running hosts, writing
// files and choosing file names to its callers. The page fetches nothing:
// its CSS, SVG and script are inline, and host output reaches the page
// only through html/template's escaping or the DOM's textContent.
package html

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/fleetrun/fleetrun/report"
)

// DefaultOutputTail is how many bytes of the end of each step's stdout and
// stderr a page embeds unless Options say otherwise.
const DefaultOutputTail = 2048

// DefaultOutputBudget bounds the output a page embeds in all, so that a
// page for thousands of talkative hosts still opens quickly (a 2,000-host
// run stays under 5 MB).
const DefaultOutputBudget = 3 << 20

// Options tune a rendering. The zero value is ready to use.
type Options struct {
	// OutputTail is how many bytes from the end of each step's stdout and
	// stderr the page embeds (cut at a character boundary; the page says
	// how much was left out). Zero means DefaultOutputTail; a negative
	// value embeds all output.
	OutputTail int
	// OutputBudget bounds the bytes of output the page embeds over all
	// hosts and steps. When the tails would need more, every stream keeps
	// a shorter tail, the same for all, and the page says so. Zero means
	// DefaultOutputBudget; a negative value means no bound.
	OutputBudget int
	// Source names the JSON file the page was rendered from; it is shown
	// in the header when not empty.
	Source string
}

func (o Options) tail() int {
	switch {
	case o.OutputTail == 0:
		return DefaultOutputTail
	case o.OutputTail < 0:
		return -1
	}
	return o.OutputTail
}

func (o Options) budget() int {
	switch {
	case o.OutputBudget == 0:
		return DefaultOutputBudget
	case o.OutputBudget < 0:
		return -1
	}
	return o.OutputBudget
}

// Render writes doc to w as one HTML page. It does not modify doc. Any
// document is rendered, including dry-run plans and reports written before
// times, batches or outcomes existed (hosts without times get no timeline
// bars, and the page says so). The only errors are a nil document and
// failures to write to w.
func Render(w io.Writer, doc *report.Document, opts Options) error {
	if doc == nil {
		return errors.New("render html report: no document")
	}
	p := buildPage(doc, opts)
	if err := pageTemplate.Execute(w, p); err != nil {
		return fmt.Errorf("render html report: %w", err)
	}
	return nil
}

const utf8BOM = "\xef\xbb\xbf"

// ReadJSON decodes a JSON report as fleetrun writes it (report.WriteJSON).
// It accepts reports from older and newer fleetrun versions alike: missing
// fields keep their zero values and unknown fields are ignored, and a
// leading UTF-8 byte order mark is skipped. It fails on
// malformed JSON, on trailing data after the document, and on a JSON value
// that has none of a report's fields (playbook, status, hosts).
func ReadJSON(r io.Reader) (*report.Document, error) {
	br := bufio.NewReader(r)
	// A report that went through a Windows editor or PowerShell's
	// Out-File may start with a UTF-8 byte order mark.
	if b, err := br.Peek(len(utf8BOM)); err == nil && string(b) == utf8BOM {
		_, _ = br.Discard(len(utf8BOM)) // cannot fail: the bytes are buffered
	}
	dec := json.NewDecoder(br)
	var doc report.Document
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("read json report: empty input, expected a JSON object")
		}
		return nil, fmt.Errorf("read json report: %w", err)
	}
	end := dec.InputOffset()
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read json report: unexpected data after the document at byte %d", end)
	}
	if doc.Playbook == "" && doc.Status == "" && doc.Hosts == nil {
		return nil, errors.New("read json report: not a fleetrun report: no playbook, status or hosts")
	}
	return &doc, nil
}
