package winquote

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxCommandLine is the longest command line, in UTF-16 code units and
// without the terminating NUL, that CreateProcess accepts (its documented
// limit is 32,767 characters including the NUL).
const MaxCommandLine = 32766

// ErrBatchFile is returned (wrapped) by [CheckArgvProgram] for a .bat or
// .cmd program: cmd.exe re-parses such a command line with its own rules,
// so an argv step cannot pass it arguments exactly.
var ErrBatchFile = errors.New("batch files (.bat, .cmd) cannot take exact arguments in a command step, " +
	"because cmd.exe re-parses their command line; run them with a cmd: step instead")

// QuoteArg returns s quoted so that the C runtime's argument parser gives
// back exactly s when it reads the result as one argument (any argument but
// the program name).
//
// A string that needs no quoting is returned unchanged, so plans stay
// readable. The empty string becomes "". A string containing a space, tab,
// newline or vertical tab is wrapped in double quotes (only space and tab
// separate arguments, but other parsers split on the other two as well).
// Each " becomes \", and a run of backslashes is doubled only where it is
// followed by a " or by the closing quote; elsewhere backslashes stay as
// they are.
//
// QuoteArg cannot help with NUL or invalid UTF-8, which no Windows command
// line can carry; [CommandLine] reports those as errors.
func QuoteArg(s string) string {
	if !needsQuoting(s) {
		return s
	}
	var b strings.Builder
	writeQuoted(&b, s)
	return b.String()
}

// needsQuoting reports whether QuoteArg changes s.
func needsQuoting(s string) bool {
	return s == "" || strings.ContainsAny(s, " \t\n\v\"")
}

// writeQuoted writes QuoteArg(s) to b.
func writeQuoted(b *strings.Builder, s string) {
	if !needsQuoting(s) {
		b.WriteString(s)
		return
	}
	wrap := s == "" || strings.ContainsAny(s, " \t\n\v")
	b.Grow(len(s) + 2 + 2*strings.Count(s, `"`))
	if wrap {
		b.WriteByte('"')
	}
	backslashes := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '\\':
			backslashes++
		case '"':
			// n backslashes then " must become 2n+1 backslashes then ",
			// which the parser reads as n backslashes and a literal ".
			writeBackslashes(b, backslashes+1)
			backslashes = 0
		default:
			backslashes = 0
		}
		b.WriteByte(c)
	}
	if wrap {
		// Trailing backslashes precede the closing quote: double them so
		// that the quote still closes.
		writeBackslashes(b, backslashes)
		b.WriteByte('"')
	}
}

func writeBackslashes(b *strings.Builder, n int) {
	for range n {
		b.WriteByte('\\')
	}
}

// CommandLine returns the full command line that .NET Framework's
// Process.Start (UseShellExecute false) builds from FileName file and
// Arguments made of args, each quoted by [QuoteArg] and joined by single
// spaces: `"` + file + `"`, then, only when args is not empty, a space and
// the arguments. Splitting the result with [SplitCommandLine], or with the
// C runtime of the program, gives back file followed by args exactly.
//
// It returns an error when that cannot hold: file is empty, contains a " (the
// program name is parsed without escapes) or a NUL, or begins or ends with
// white space (Process.Start trims it); an argument contains a NUL; file or
// an argument is not valid UTF-8; or the result is longer than
// [MaxCommandLine] UTF-16 code units. It refuses a batch file too (an error
// wrapping [ErrBatchFile]): cmd.exe would re-parse the line. The program
// name is judged by [CheckArgvProgram], the one rule for it: the playbook
// applies it to a step's program before any host is contacted (a literal
// when the playbook is parsed, a templated one when it is expanded), and
// building the line applies it to whatever reaches a transport.
func CommandLine(file string, args []string) (string, error) {
	if err := CheckArgvProgram(file); err != nil {
		return "", err
	}
	n := len(file) + 2
	for i, a := range args {
		if strings.IndexByte(a, 0) >= 0 {
			return "", fmt.Errorf("argument %d contains a NUL character, which a Windows command line cannot carry", i+1)
		}
		if !utf8.ValidString(a) {
			return "", fmt.Errorf("argument %d is not valid UTF-8, so it cannot be carried by a Windows (UTF-16) command line", i+1)
		}
		n += len(a) + 3
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteByte('"')
	b.WriteString(file)
	b.WriteByte('"')
	for _, a := range args {
		b.WriteByte(' ')
		writeQuoted(&b, a)
	}
	line := b.String()
	if units := utf16Len(line); units > MaxCommandLine {
		return "", fmt.Errorf("command line is %d UTF-16 code units long; Windows allows at most %d", units, MaxCommandLine)
	}
	return line, nil
}

// checkProgramName reports why file cannot be the program name of a command
// line built by CommandLine, or nil.
func checkProgramName(file string) error {
	switch {
	case file == "":
		return errors.New("program name is empty")
	case strings.IndexByte(file, 0) >= 0:
		return fmt.Errorf("program name %q contains a NUL character, which a Windows command line cannot carry", file)
	case strings.IndexByte(file, '"') >= 0:
		return fmt.Errorf("program name %q contains a double quote, which the program-name rules of a Windows command line cannot express", file)
	case !utf8.ValidString(file):
		return fmt.Errorf("program name %q is not valid UTF-8, so it cannot be carried by a Windows (UTF-16) command line", file)
	case strings.TrimFunc(file, unicode.IsSpace) != file:
		// .NET's String.Trim and Go's unicode.IsSpace agree on what white
		// space is (the Unicode White_Space property).
		return fmt.Errorf("program name %q begins or ends with white space, which Process.Start trims", file)
	}
	return nil
}

// utf16Len returns the number of UTF-16 code units that encode the valid
// UTF-8 string s.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r >= 0x10000 {
			n++
		}
	}
	return n
}

// SplitCommandLine splits a Windows command line into argv as the Microsoft
// C runtime does (Visual C++ 2008 and later, including the Universal C
// Runtime): the first element by the program-name rules, the rest by the
// argument rules, with "" inside quotes giving a literal " (see the package
// documentation).
//
// The result always has at least one element, the program name, which is
// empty when line is empty or starts with a space or tab (the C runtime
// does not skip leading white space). Like the C runtime, which reads a
// NUL-terminated string, SplitCommandLine stops at the first NUL byte.
// Invalid UTF-8 is passed through byte for byte.
func SplitCommandLine(line string) []string {
	if i := strings.IndexByte(line, 0); i >= 0 {
		line = line[:i]
	}

	// The program name: quotes toggle and are dropped, nothing escapes,
	// and the first space or tab outside quotes ends it (and is consumed).
	var b strings.Builder
	i := 0
	inQuotes := false
	for i < len(line) {
		c := line[i]
		i++
		if c == '"' {
			inQuotes = !inQuotes
			continue
		}
		if !inQuotes && (c == ' ' || c == '\t') {
			break
		}
		b.WriteByte(c)
	}
	argv := []string{b.String()}

	inQuotes = false
	for {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if i == len(line) {
			return argv
		}
		b.Reset()
		for {
			backslashes := 0
			for i < len(line) && line[i] == '\\' {
				backslashes++
				i++
			}
			keep := true
			if i < len(line) && line[i] == '"' {
				if backslashes%2 == 0 {
					if inQuotes && i+1 < len(line) && line[i+1] == '"' {
						// "" inside quotes: a literal " and quoting goes on.
						i++
					} else {
						keep = false
						inQuotes = !inQuotes
					}
				}
				backslashes /= 2
			}
			writeBackslashes(&b, backslashes)
			if i == len(line) || (!inQuotes && (line[i] == ' ' || line[i] == '\t')) {
				break
			}
			if keep {
				b.WriteByte(line[i])
			}
			i++
		}
		argv = append(argv, b.String())
	}
}

// IsBatchFile reports whether Windows would run file as a batch file: its
// extension is .bat or .cmd in any letter case, after dropping the trailing
// dots and spaces that Windows ignores in file names ("RUN.BAT. " is a
// batch file).
func IsBatchFile(file string) bool {
	name := strings.TrimRight(file, ". ")
	if len(name) < 4 {
		return false
	}
	ext := name[len(name)-4:]
	return asciiEqualFold(ext, ".bat") || asciiEqualFold(ext, ".cmd")
}

// asciiEqualFold is strings.EqualFold restricted to ASCII letters, so that
// no non-ASCII character can fold into an extension.
func asciiEqualFold(s, t string) bool {
	if len(s) != len(t) {
		return false
	}
	for i := 0; i < len(s); i++ {
		a, b := s[i], t[i]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}

// CheckArgvProgram reports whether file can be the program of an argv step:
// nil if so, an error wrapping [ErrBatchFile] for a batch file (see
// [IsBatchFile]), and otherwise the error [CommandLine] would give for the
// program name (empty, contains " or NUL, surrounding white space, invalid
// UTF-8).
func CheckArgvProgram(file string) error {
	if err := checkProgramName(file); err != nil {
		return err
	}
	if IsBatchFile(file) {
		return fmt.Errorf("program %q: %w", file, ErrBatchFile)
	}
	return nil
}
