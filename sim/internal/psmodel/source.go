package psmodel

import (
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Source is a script's text with its line starts, to turn offsets into
// the line and column numbers PowerShell reports.
type Source struct {
	Text  string
	lines []int
}

func newSource(text string) *Source {
	s := &Source{Text: text, lines: []int{0}}
	for i := 0; i < len(text); i++ {
		switch text[i] {
		case '\n':
			s.lines = append(s.lines, i+1)
		case '\r':
			if i+1 < len(text) && text[i+1] == '\n' {
				continue
			}
			s.lines = append(s.lines, i+1)
		}
	}
	return s
}

// Position returns the 1-based line and column of a byte offset; columns
// count characters, as PowerShell's do.
func (s *Source) Position(off int) (line, col int) {
	off = min(max(off, 0), len(s.Text))
	i := sort.Search(len(s.lines), func(i int) bool { return s.lines[i] > off }) - 1
	return i + 1, utf8.RuneCountInString(s.Text[s.lines[i]:off]) + 1
}

// Line returns the text of a 1-based line without its terminator.
func (s *Source) Line(n int) string {
	if n < 1 || n > len(s.lines) {
		return ""
	}
	start := s.lines[n-1]
	end := len(s.Text)
	if n < len(s.lines) {
		end = s.lines[n]
	}
	return strings.TrimRight(s.Text[start:end], "\r\n")
}

// PositionMessage renders an extent as PowerShell's
// InvocationInfo.PositionMessage does: "At line:L char:C", the source
// line after "+ ", and a row of ~ under the extent. Long lines are cut
// to 69 characters around the extent with "... " markers, tabs count as
// four spaces (PositionUtilities.VerboseMessage in PowerShell's
// Position.cs).
func (s *Source) PositionMessage(e Extent) string {
	line, col := s.Position(e.Start)
	endLine, endCol := s.Position(e.End)
	text := []rune(strings.TrimRight(s.Line(line), " \t\r\n"))
	head := "At line:" + strconv.Itoa(line) + " char:" + strconv.Itoa(col)
	if len(text) == 0 {
		return head + "\r\n+ "
	}
	before := min(col-1, len(text))
	length := endCol - col
	if endLine != line {
		length = len(text) - col + 1
	}
	length = max(min(length, len(text)-before), 0)
	if strings.ContainsRune(string(text), '\t') {
		b := []rune(strings.ReplaceAll(string(text[:before]), "\t", "    "))
		m := []rune(strings.ReplaceAll(string(text[before:before+length]), "\t", "    "))
		a := []rune(strings.ReplaceAll(string(text[before+length:]), "\t", "    "))
		text = append(append(b, m...), a...)
		before, length = len(b), len(m)
	}
	const maxLine = 69
	prefixDots, suffixDots := false, false
	if len(text) > maxLine {
		totalPrefix := before
		prefix := min(totalPrefix, 12)
		totalSuffix := len(text) - length - before
		suffix := min(totalSuffix, 8)
		candidate := prefix + length + suffix
		if candidate >= maxLine {
			if prefix+length >= maxLine {
				length = maxLine - prefix
			}
			suffixDots = true
		} else {
			if avail := totalPrefix - prefix; avail > 0 {
				prefix += min(avail, maxLine-candidate)
				candidate = prefix + length + suffix
			}
			if candidate < maxLine && totalSuffix > 0 {
				suffix += min(totalSuffix, maxLine-candidate)
			}
			suffixDots = suffix < totalSuffix
		}
		prefixDots = prefix < totalPrefix
		start := max(before-prefix, 0)
		text = text[start:min(start+maxLine, len(text))]
		before = min(before, prefix)
		length = min(length, maxLine-before)
	}
	var b strings.Builder
	b.WriteString(head)
	b.WriteString("\r\n+ ")
	if prefixDots {
		b.WriteString("... ")
	}
	b.WriteString(string(text))
	if suffixDots {
		b.WriteString(" ...")
	}
	b.WriteString("\r\n+ ")
	n := before
	if prefixDots {
		n += 4
	}
	b.WriteString(strings.Repeat(" ", n))
	b.WriteString(strings.Repeat("~", max(length, 1)))
	return b.String()
}

// trimmedLine is the source line an offset is on, without surrounding
// blanks.
func (s *Source) trimmedLine(off int) string {
	line, _ := s.Position(off)
	return strings.TrimSpace(s.Line(line))
}

// notModelledPrefix starts the message of everything the model refuses
// because it does not model it.
const notModelledPrefix = "simulated host: this PowerShell is not modelled: "

// ParseError is a script the model cannot run: a syntax error PowerShell
// reports the same way (Msg and ID are PowerShell's), or text beyond the
// model (NotModelled).
type ParseError struct {
	Msg         string
	ID          string
	Extent      Extent
	NotModelled bool
	src         *Source
}

func (e *ParseError) Error() string {
	line, col := e.src.Position(e.Extent.Start)
	return "line " + strconv.Itoa(line) + " char " + strconv.Itoa(col) + ": " + e.Msg
}
