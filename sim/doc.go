// Package sim is fleetrun's simulated Windows fleet: HTTP(S) servers that
// speak WS-Management and WinRS as Windows' WinRM service does (shell
// lifecycle, long-poll Receive, faults with Windows' codes and texts,
// quotas by Windows release, Basic and NTLM authentication with message
// encryption), with a small model of what runs inside a shell: cmd.exe,
// fleetrun's PowerShell launcher, scripted PowerShell answers and a set of
// simulated programs. Every test, demo and benchmark of fleetrun meets its
// "Windows hosts" here; everything it shows a user is labelled simulated.
//
// It leaves cmd.exe's parsing and the C runtime's argv rules to
// sim/internal/cmdexe, HTTP authentication and message sealing to
// sim/internal/ntlmsrv and request parsing to sim/internal/wsman, and never
// imports fleetrun's client side (winrm, winquote), so a bug shared with
// the client cannot hide. It is a test double, not an emulator: what it
// models is listed in the README ("The simulated fleet"), and behaviour it does not model
// (Kerberos, CredSSP, PowerShell Remoting, real process isolation) is
// absent rather than approximated.
package sim
