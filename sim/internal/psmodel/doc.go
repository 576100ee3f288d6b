// Package psmodel is the simulated hosts' model of Windows PowerShell 5.1:
// a tokenizer and parser for the subset of the language operators' scripts
// use, and an evaluator that answers them as PowerShell would, with the
// same output, the same error text and the same exit codes.
//
// It knows nothing of WinRM or of the simulated machine: everything a
// script can reach (programs, files, registry, services, updates, the
// environment) goes through the Host interface. Whatever the model cannot
// parse or evaluate is refused with a terminating error that says so
// ("simulated host: this PowerShell is not modelled: ..."), so that a
// script beyond the model never passes by accident.
package psmodel
