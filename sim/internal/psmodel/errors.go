package psmodel

import (
	"strconv"
	"strings"
)

// Exception is a .NET exception as far as scripts see one.
type Exception struct {
	// Type is the full type name; catch [T] matches it or a base.
	Type    string
	Message string
	Inner   *Exception
}

// exceptionBases are the base types of the exceptions the model raises,
// for catch [T] and -is.
var exceptionBases = map[string]string{
	"System.Management.Automation.CommandNotFoundException":      "System.Management.Automation.RuntimeException",
	"System.Management.Automation.MethodInvocationException":     "System.Management.Automation.MethodException",
	"System.Management.Automation.MethodException":               "System.Management.Automation.RuntimeException",
	"System.Management.Automation.ItemNotFoundException":         "System.Management.Automation.SessionStateException",
	"System.Management.Automation.SessionStateException":         "System.Management.Automation.RuntimeException",
	"System.Management.Automation.ParameterBindingException":     "System.Management.Automation.RuntimeException",
	"System.Management.Automation.ActionPreferenceStopException": "System.Management.Automation.RuntimeException",
	"System.Management.Automation.ApplicationFailedException":    "System.Management.Automation.RuntimeException",
	"System.Management.Automation.ParseException":                "System.Management.Automation.RuntimeException",
	"System.Management.Automation.PSInvalidCastException":        "System.InvalidCastException",
	"System.Management.Automation.PSArgumentException":           "System.ArgumentException",
	"System.Management.Automation.ScriptCallDepthException":      "System.SystemException",
	"System.Management.Automation.RuntimeException":              "System.SystemException",
	"Microsoft.PowerShell.Commands.WriteErrorException":          "System.SystemException",
	"Microsoft.PowerShell.Commands.ServiceCommandException":      "System.SystemException",
	"System.DivideByZeroException":                               "System.ArithmeticException",
	"System.ArithmeticException":                                 "System.SystemException",
	"System.FormatException":                                     "System.SystemException",
	"System.InvalidCastException":                                "System.SystemException",
	"System.UnauthorizedAccessException":                         "System.SystemException",
	"System.ArgumentException":                                   "System.SystemException",
	"System.IO.FileNotFoundException":                            "System.IO.IOException",
	"System.IO.DirectoryNotFoundException":                       "System.IO.IOException",
	"System.IO.IOException":                                      "System.SystemException",
	"System.Runtime.InteropServices.COMException":                "System.Runtime.InteropServices.ExternalException",
	"System.Runtime.InteropServices.ExternalException":           "System.SystemException",
	"System.SystemException":                                     "System.Exception",
}

// is reports whether the exception is of type name or derives from it.
func (e *Exception) is(name string) bool {
	want := strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(name, "System."), "system."))
	for t := e.Type; t != ""; t = exceptionBases[t] {
		have := strings.ToLower(strings.TrimPrefix(t, "System."))
		if have == want || strings.HasSuffix(have, "."+want) {
			return true
		}
		if t == "System.Exception" {
			break
		}
	}
	return want == "exception"
}

// shortType is the type name without its namespace.
func (e *Exception) shortType() string {
	return e.Type[strings.LastIndexByte(e.Type, '.')+1:]
}

// ErrorRecord is an error as PowerShell reports it.
type ErrorRecord struct {
	Exception *Exception
	// Category is the ErrorCategory (ObjectNotFound, NotSpecified, ...).
	Category string
	// Activity is the command in the category line's brackets.
	Activity string
	// TargetName and TargetType are the (name:type) of the category line.
	TargetName string
	TargetType string
	// Reason overrides the category line's reason (the exception's type
	// name) when the record wraps another exception.
	Reason string
	// FQID is the FullyQualifiedErrorId.
	FQID string
	// Command is shown before the message in the error view
	// ("Get-Content : ..."); empty for errors that come from no command.
	Command string
	// Position is InvocationInfo.PositionMessage; empty when there is
	// none.
	Position string
	// HasInvocation says the record has an InvocationInfo (the launcher
	// writes its position message then, even an empty one).
	HasInvocation bool
	// Line and Column are where the error happened (1-based).
	Line, Column int
	// Details replaces the exception message when set (ErrorDetails).
	Details string
	// Target is the object the error is about.
	Target any
	// parse marks a parser error: the view puts the position first.
	parse bool
	// native marks a native program's stderr line.
	native bool
}

// Message is what "$error" prints: the details or the exception message.
func (r *ErrorRecord) Message() string {
	if r.Details != "" {
		return r.Details
	}
	return r.Exception.Message
}

// CategoryInfo is the category line's text.
func (r *ErrorRecord) CategoryInfo() string {
	reason := r.Reason
	if reason == "" {
		reason = r.Exception.shortType()
	}
	return r.Category + ": (" + r.TargetName + ":" + r.TargetType + ") [" + r.Activity + "], " + reason
}

// View renders the record as Windows PowerShell 5.1's console shows it
// (the NormalView error view), one element per line, each with CRLF.
func (r *ErrorRecord) View() []string {
	var lines []string
	add := func(s string) {
		for _, l := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
			lines = append(lines, l+"\r\n")
		}
	}
	switch {
	case r.parse:
		add(r.Position)
		add(r.Message())
	case r.native:
		add(r.Message())
		return lines
	default:
		msg := r.Message()
		if r.Command != "" {
			msg = r.Command + " : " + msg
		}
		add(msg)
		if r.Position != "" {
			add(r.Position)
		}
	}
	lines = append(lines,
		"    + CategoryInfo          : "+r.CategoryInfo()+"\r\n",
		"    + FullyQualifiedErrorId : "+r.FQID+"\r\n",
		" \r\n")
	return lines
}

// newRecord builds a record for an exception.
func newRecord(excType, msg, category, fqid string) *ErrorRecord {
	return &ErrorRecord{Exception: &Exception{Type: excType, Message: msg}, Category: category, FQID: fqid}
}

// --- signals that unwind evaluation ---

// psError is an error travelling up: statement-terminating unless
// script is set (throw, -ErrorAction Stop), which only try/catch stops.
type psError struct {
	rec    *ErrorRecord
	script bool
}

func (e *psError) Error() string { return e.rec.Message() }

// fatalError ends the script at once and cannot be caught: something
// the model does not model, or a limit of the model.
type fatalError struct{ rec *ErrorRecord }

func (e *fatalError) Error() string { return e.rec.Message() }

// exitSignal is exit N.
type exitSignal struct{ code int32 }

func (e *exitSignal) Error() string { return "exit " + strconv.Itoa(int(e.code)) }

// flowSignal is return, break or continue.
type flowSignal struct{ kind string }

func (e *flowSignal) Error() string { return e.kind }
