// Package winquote builds and parses Windows command lines, PowerShell
// literals and -EncodedCommand payloads, so that an argv step reaches the
// remote program's argv exactly as written. It does no I/O and knows nothing
// about WinRM, playbooks or how a command line is delivered; the transport
// decides that, and the simulator parses command lines with its own code.
//
// # Why a Windows command line needs quoting at all
//
// A Windows process receives one string, its command line, not an argv array.
// Each program splits that string itself, almost always with the Microsoft C
// runtime's startup code (parse_cmdline in msvcrt.dll and in the Universal C
// Runtime, ucrtbase.dll); CommandLineToArgvW in shell32 follows nearly the
// same rules. A sender that wants a given argv must therefore quote each
// element for that parser, and the parser's rules differ for the first token
// (the program name) and for the arguments after it.
//
// The rules this package implements are those documented by Microsoft in
// "Parsing C command-line arguments" (Microsoft C/C++ documentation,
// learn.microsoft.com/cpp/c-language/parsing-c-command-line-arguments) and
// explained, with the common mistakes, by Daniel Colascione in "Everyone
// quotes command line arguments the wrong way" (MSDN blog "Twisty Little
// Passages", 2011). In short:
//
//   - Program name (first token): characters up to the first space or tab
//     outside double quotes; every " toggles quoting and is dropped; a
//     backslash is always literal. Nothing can escape a " here, so a program
//     name containing " cannot be expressed. (The pre-2008 msvcrt.dll ends
//     a quoted program name at its closing quote and an unquoted one at any
//     control character; a quoted name that contains no " and is followed
//     by a space or the end of the line, the only form [CommandLine]
//     writes, reads the same under both.)
//   - Arguments: separated by runs of spaces and tabs outside quotes. Other
//     characters, including newline and vertical tab, do not separate.
//   - A backslash is literal unless a run of backslashes ends at a ".
//     2n backslashes and a " give n backslashes and the " opens or closes
//     quoting; 2n+1 backslashes and a " give n backslashes and a literal ".
//   - Inside quotes, "" gives one literal " and quoting continues. This is
//     the behaviour of the C runtime since Visual C++ 2008 (msvcr90 and
//     later, and the Universal C Runtime; David Deley, "How Command Line
//     Parameters Are Parsed", records the change). Older runtimes end the
//     quoted span after such a pair instead, and CommandLineToArgvW has
//     rules of its own for runs of quotes.
//     [QuoteArg] never produces "" inside quotes, so its output parses the
//     same under every variant; [SplitCommandLine] follows the modern rule.
//   - A command line that ends inside quotes ends the last argument there.
//   - The caret ^ and cmd.exe's other metacharacters mean nothing to the C
//     runtime.
//
// The C runtime reads a NUL-terminated UTF-16 string, so a command line can
// carry neither NUL nor text that is not valid Unicode; [CommandLine]
// rejects both, and so every argv it accepts comes back unchanged.
//
// # Program name and .NET's Process.Start
//
// fleetrun's launcher hands the command line to .NET Framework's
// Process.Start with UseShellExecute false, which builds it as the quoted
// file name, then a space and the argument string if that is not empty.
// [CommandLine] produces exactly that string. Because the program name is
// parsed without escapes, the file name may not contain ", and because
// Process.Start trims white space around FileName, it may not begin or end
// with white space either.
//
// Batch files (.bat, .cmd) are run by CreateProcess through cmd.exe, which
// re-parses the whole line with different rules; arbitrary arguments cannot
// be passed to them safely (CVE-2024-24576, "BatBadBut"). [CheckArgvProgram]
// refuses them with [ErrBatchFile], and so does [CommandLine], which judges
// its program by that one rule; fleetrun's cmd: steps exist for them.
//
// # PowerShell and cmd.exe
//
// [PSSingleQuote] writes a verbatim PowerShell string literal; PowerShell
// also treats the typographic quotes U+2018, U+2019, U+201A and U+201B as
// single quotes ("about_Quoting_Rules"), so each of them is doubled too.
// [EncodeCommand] produces what powershell.exe -EncodedCommand expects:
// base64 of the UTF-16LE script text.
//
// [CmdQuote] is for text shown to people, such as a fix command in a hint,
// that they paste at a cmd.exe prompt. [CmdArg] is for values fleetrun
// itself puts on a cmd: step's line (the cmdquote template function): it
// also holds for hostile text, where CmdQuote's ^% can be undone by a
// %NAME:old=new% modifier.
package winquote
