# fleetrun-copy v1
# fleetrun's copy script, commented source: one file of a copy step, sent
# as powershell.exe -EncodedCommand in a WinRS shell, with the file's bytes
# on stdin. The wire form is this text without comment lines and
# indentation (the first line stays: it is the marker the simulator looks
# for). It must leave room on the 8191-character command line for a
# payload naming two paths of 260 characters, base64'd twice over (the
# payload, then the UTF-16 text of the whole script), hence the terse
# names (no user code runs beside them, so no prefix either).
#
# The payload (docs/design.md, "Files to and from hosts"): v, dest, tmp,
# sha256 (lower-case hex), size. Protocol, on stdout, ASCII lines ending in
# LF, each flushed at once:
#   U           dest already holds these bytes; stdin is not read
#   W           the client may send the bytes now
#   D <sha256>  the bytes arrived, were hashed and replaced dest
# Exit codes: 0 done, 2 bad payload or a path it cannot write, 3 stdin
# ended short, 4 the bytes that arrived have another SHA-256. Every failure
# removes tmp and writes one line to stderr starting "fleetrun-copy:".
#
# The payload is read with JavaScriptSerializer rather than
# ConvertFrom-Json so that the text also runs under Windows PowerShell 2.0.
$fleetrunPayload = ''
$c = 2
$o = [Console]::OpenStandardOutput()
function frW($s) {
    # One protocol line, flushed so the client sees it before we wait.
    $b = [Text.Encoding]::ASCII.GetBytes($s + "`n")
    $o.Write($b, 0, $b.Length)
    $o.Flush()
}
function frX($a) {
    # Lower-case hex of a hash.
    [BitConverter]::ToString($a).Replace('-', '').ToLower()
}
try {
    Add-Type -AssemblyName System.Web.Extensions
    $p = (New-Object Web.Script.Serialization.JavaScriptSerializer).DeserializeObject([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($fleetrunPayload)))
    if ($p.v -ne 1) {
        throw 'bad payload version'
    }
    $d = [string]$p.dest
    $n = [long]$p.size
    $h = [string]$p.sha256
    $a = [Security.Cryptography.SHA256]::Create()
    if ([IO.File]::Exists($d) -and (New-Object IO.FileInfo $d).Length -eq $n) {
        $s = [IO.File]::OpenRead($d)
        try {
            $g = frX $a.ComputeHash($s)
        } finally {
            $s.Close()
        }
        if ($g -eq $h) {
            frW 'U'
            exit 0
        }
    }
    # Set only now, so a failure before never removes someone's file.
    $t = [string]$p.tmp
    $r = [IO.Path]::GetDirectoryName($d)
    if ($r) {
        [void][IO.Directory]::CreateDirectory($r)
    }
    $f = New-Object IO.FileStream($t, [IO.FileMode]::Create, [IO.FileAccess]::Write)
    $b = New-Object byte[] 65536
    $i = [Console]::OpenStandardInput()
    frW 'W'
    $m = $n
    try {
        while ($m -gt 0) {
            $k = $i.Read($b, 0, [Math]::Min($b.Length, $m))
            if ($k -le 0) {
                $c = 3
                throw "stdin ended after $($n - $m) of $n bytes"
            }
            $f.Write($b, 0, $k)
            [void]$a.TransformBlock($b, 0, $k, $null, 0)
            $m -= $k
        }
    } finally {
        $f.Close()
    }
    [void]$a.TransformFinalBlock($b, 0, 0)
    $g = frX $a.Hash
    if ($g -ne $h) {
        $c = 4
        throw "received SHA-256 $g, not $h"
    }
    # Replace keeps dest's permissions; Move when there is none yet.
    if ([IO.File]::Exists($d)) {
        [IO.File]::Replace($t, $d, $null)
    } else {
        [IO.File]::Move($t, $d)
    }
    frW "D $g"
    exit 0
} catch {
    if ($t) {
        Remove-Item -LiteralPath $t -Force -EA 0
    }
    [Console]::Error.WriteLine('fleetrun-copy: ' + $_)
    exit $c
}
