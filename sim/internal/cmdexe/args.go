package cmdexe

import "strings"

// ParseArgs splits a program's command line into argv the way the Microsoft
// C runtime does before main runs (UCRT startup/argv_parsing.cpp; Microsoft
// Learn "Parsing C command-line arguments").
//
// The program name comes first and follows its own, simpler rule: it runs to
// the first space or tab outside double quotes, the quotes are dropped and
// backslashes are always literal. Arguments then split on spaces and tabs
// outside quotes; 2n backslashes before a quote give n backslashes and the
// quote toggles quoting, 2n+1 give n backslashes and a literal quote;
// backslashes not before a quote are literal; and, as in runtimes since
// 2008, `""` inside a quoted part gives one literal quote and quoting goes
// on. An empty command line gives one empty program name (the real runtime
// substitutes the module file name, which this model does not know).
func ParseArgs(cmdline string) []string {
	var argv []string
	var b strings.Builder

	// Program name: quotes toggle and vanish, nothing else is special.
	i := 0
	inQuotes := false
	for i < len(cmdline) {
		c := cmdline[i]
		if c == '"' {
			inQuotes = !inQuotes
			i++
			continue
		}
		if !inQuotes && (c == ' ' || c == '\t') {
			break
		}
		b.WriteByte(c)
		i++
	}
	argv = append(argv, b.String())

	inQuotes = false
	for {
		for i < len(cmdline) && (cmdline[i] == ' ' || cmdline[i] == '\t') {
			i++
		}
		if i >= len(cmdline) {
			return argv
		}
		b.Reset()
		for i < len(cmdline) {
			slashes := 0
			for i < len(cmdline) && cmdline[i] == '\\' {
				slashes++
				i++
			}
			if i < len(cmdline) && cmdline[i] == '"' {
				b.WriteString(strings.Repeat(`\`, slashes/2))
				if slashes%2 == 1 {
					b.WriteByte('"')
					i++
					continue
				}
				if inQuotes && i+1 < len(cmdline) && cmdline[i+1] == '"' {
					// "" inside quotes: one literal quote, still quoted.
					b.WriteByte('"')
					i += 2
					continue
				}
				inQuotes = !inQuotes
				i++
				continue
			}
			b.WriteString(strings.Repeat(`\`, slashes))
			if i >= len(cmdline) {
				break
			}
			c := cmdline[i]
			if !inQuotes && (c == ' ' || c == '\t') {
				break
			}
			b.WriteByte(c)
			i++
		}
		argv = append(argv, b.String())
	}
}

// isBatchDelim reports whether c separates batch-file parameters: cmd.exe
// splits %1..%9 on spaces and tabs and also on `,`, `;` and `=` (ss64.com
// "Parameters / Arguments"; `call /?`).
func isBatchDelim(c byte) bool {
	return c == ' ' || c == '\t' || c == ',' || c == ';' || c == '='
}

// splitBatchArgs splits the text after a batch file's name into the raw
// parameter tokens cmd.exe gives %1, %2, ...: quoted parts keep their
// delimiters and their quotes. rest is what %* expands to: the same text
// with leading delimiters removed.
func splitBatchArgs(text string) (args []string, rest string) {
	i := 0
	for i < len(text) && isBatchDelim(text[i]) {
		i++
	}
	rest = text[i:]
	for i < len(text) {
		start := i
		inQuotes := false
		for i < len(text) {
			c := text[i]
			if c == '"' {
				inQuotes = !inQuotes
			} else if !inQuotes && isBatchDelim(c) {
				break
			}
			i++
		}
		args = append(args, text[start:i])
		for i < len(text) && isBatchDelim(text[i]) {
			i++
		}
	}
	return args, rest
}
