// Package cmdexe models the two pieces of Windows command-line handling a
// simulated host needs: cmd.exe (percent expansion, operators, redirection,
// built-ins, batch files, `cmd /c` quote stripping) and the Microsoft C
// runtime's splitting of a program's command line into argv.
//
// It is deliberately written from Windows documentation and observed
// behaviour, independently of fleetrun's own quoting package, so that a bug
// in one cannot hide in the other. It leaves the programs themselves, the
// file system, code pages and the WS-Man protocol to package sim: callers
// supply an FS, a Lookup that resolves program paths, and writers that
// receive the raw bytes cmd.exe would write.
package cmdexe
