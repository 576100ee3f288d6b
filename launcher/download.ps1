# fleetrun-download v1
# fleetrun's download script, commented source: the host itself fetches a
# URL to a file and keeps it only when its SHA-256 is the one required.
# Over WinRM it is sent as powershell.exe -EncodedCommand; over AWS
# Systems Manager it is the command AWS-RunPowerShellScript runs. The wire
# form is this text without comment lines and indentation (the first line
# stays: it is the marker the simulator looks for).
#
# The payload (docs/design.md, "Files to and from hosts"): v, url, dest,
# tmp, sha256 (lower-case hex), retries (further tries after a failed
# transfer), proxy (empty: the system's). An empty literal means the
# payload comes on stdin (a long URL does not fit the command line).
# Protocol, on stdout, ASCII lines ending in LF:
#   U <size>            dest already holds these bytes (its size)
#   T <try> <message>   a try failed
#   D <sha256> <size>   downloaded, checked and renamed to dest
# Exit codes: 0 done, 2 bad payload or a path it cannot write, 4 the bytes
# have another SHA-256 (never retried), 6 every try failed. Every failure
# removes tmp and writes one line to stderr starting "fleetrun-download:".
$fleetrunPayload = ''
$frC = 2
$frT = $null
$frO = [Console]::OpenStandardOutput()
function frW($s) {
    $b = [Text.Encoding]::ASCII.GetBytes($s + "`n")
    $frO.Write($b, 0, $b.Length)
    $frO.Flush()
}
function frX($a) {
    [BitConverter]::ToString($a).Replace('-', '').ToLower()
}
try {
    if (!$fleetrunPayload) {
        $fleetrunPayload = [Console]::In.ReadToEnd()
    }
    Add-Type -AssemblyName System.Web.Extensions
    $frP = (New-Object Web.Script.Serialization.JavaScriptSerializer).DeserializeObject([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($fleetrunPayload.Trim())))
    if ($frP.v -ne 1) {
        throw 'bad payload version'
    }
    $frD = [string]$frP.dest
    $frH = [string]$frP.sha256
    $frY = [int]$frP.retries
    $frX = [string]$frP.proxy
    if ([IO.Directory]::Exists($frD)) {
        throw "$frD is a folder"
    }
    if ([IO.File]::Exists($frD)) {
        $frS = [IO.File]::OpenRead($frD)
        try {
            $frG = frX ([Security.Cryptography.SHA256]::Create().ComputeHash($frS))
            $frN = $frS.Length
        } finally {
            $frS.Close()
        }
        if ($frG -eq $frH) {
            frW ('U ' + $frN)
            exit 0
        }
    }
    $frT = [string]$frP.tmp
    $frR = [IO.Path]::GetDirectoryName($frD)
    if ($frR) {
        [void][IO.Directory]::CreateDirectory($frR)
    }
    # .NET Framework 4.x offers only SSL 3 and TLS 1.0 by default; 3072 is
    # TLS 1.2, named by number because 4.0 lacks the enum member. A
    # framework without TLS 1.2 (stock 2008 R2) refuses it: plain http://
    # still works there, and an https:// try fails with its own message.
    try {
        [Net.ServicePointManager]::SecurityProtocol = [Net.ServicePointManager]::SecurityProtocol -bor 3072
    } catch {
    }
    $frB = New-Object byte[] 65536
    $frE = ''
    for ($frI = 1; $frI -le $frY + 1; $frI++) {
        $frF = $null
        $frQ = $null
        try {
            $frQ = [Net.WebRequest]::Create([string]$frP.url)
            if ($frX) {
                $frQ.Proxy = New-Object Net.WebProxy $frX
            }
            $frQ = $frQ.GetResponse()
            $frR = $frQ.GetResponseStream()
            $frF = New-Object IO.FileStream($frT, [IO.FileMode]::Create, [IO.FileAccess]::Write)
            $frA = [Security.Cryptography.SHA256]::Create()
            $frZ = 0
            while (($frK = $frR.Read($frB, 0, $frB.Length)) -gt 0) {
                $frF.Write($frB, 0, $frK)
                [void]$frA.TransformBlock($frB, 0, $frK, $null, 0)
                $frZ += $frK
            }
            [void]$frA.TransformFinalBlock($frB, 0, 0)
            $frE = ''
        } catch {
            # One line: the message without its line breaks.
            $frE = "$_" -replace '\s+', ' '
            frW "T $frI $frE"
        } finally {
            if ($frF) {
                $frF.Close()
            }
            if ($frQ -is [Net.WebResponse]) {
                $frQ.Close()
            }
        }
        if (!$frE) {
            break
        }
        if ($frI -le $frY) {
            Start-Sleep -Seconds ([Math]::Min(30, 2 * $frI))
        }
    }
    if ($frE) {
        $frC = 6
        throw "$($frY + 1) tries failed; the last: $frE"
    }
    $frG = frX $frA.Hash
    if ($frG -ne $frH) {
        $frC = 4
        throw "the downloaded bytes have SHA-256 $frG, not $frH"
    }
    if ([IO.File]::Exists($frD)) {
        [IO.File]::Replace($frT, $frD, $null)
    } else {
        [IO.File]::Move($frT, $frD)
    }
    frW "D $frG $frZ"
    exit 0
} catch {
    if ($frT) {
        Remove-Item -LiteralPath $frT -Force -EA 0
    }
    [Console]::Error.WriteLine('fleetrun-download: ' + $_)
    exit $frC
}
