# fleetrun-fetch v1
# fleetrun's fetch script, commented source: it sends the files matching a
# path or pattern to the controller over its stdout. Sent as
# powershell.exe -EncodedCommand in a WinRS shell; the wire form is this
# text without comment lines and indentation (the first line stays: it is
# the marker the simulator looks for).
#
# The payload (docs/design.md, "Files to and from hosts"): v, src (a path,
# or a pattern with * and ? in its last element), max_bytes. Frames, on
# stdout: ASCII header lines ending in LF, raw bytes after F headers.
#   N                              nothing matches (exit 0)
#   F <size> <sha256> <b64 path>   then exactly size raw bytes; path is
#                                  the full path, base64 of its UTF-8
#   Z                              every file was sent
# Exit codes: 0 done, 5 the files hold more than max_bytes (nothing is
# sent), 2 any other failure; failures write one line to stderr starting
# "fleetrun-fetch:". A file that changes while it is read is still sent as
# size bytes (zeros where it shrank): the controller's hash check catches
# it.
$fleetrunPayload = ''
$frC = 2
$frO = [Console]::OpenStandardOutput()
function frW($s) {
    $b = [Text.Encoding]::ASCII.GetBytes($s + "`n")
    $frO.Write($b, 0, $b.Length)
    $frO.Flush()
}
try {
    Add-Type -AssemblyName System.Web.Extensions
    $frP = (New-Object Web.Script.Serialization.JavaScriptSerializer).DeserializeObject([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($fleetrunPayload)))
    if ($frP.v -ne 1) {
        throw 'bad payload version'
    }
    $frS = [string]$frP.src
    $frL = @()
    $frK = $frS.LastIndexOfAny([char[]]'\/')
    $frN = $frS.Substring($frK + 1)
    if ($frN -match '[*?]') {
        # GetFiles also matches 8.3 short names and, for a three-letter
        # extension, longer ones: the long names are matched again here.
        $frR = $frS.Substring(0, $frK + 1)
        $frE = '^' + ([regex]::Escape($frN) -replace '\\\*', '.*' -replace '\\\?', '.') + '$'
        if ([IO.Directory]::Exists($frR)) {
            $frL = @([IO.Directory]::GetFiles($frR, $frN) | Where-Object { [IO.Path]::GetFileName($_) -match $frE } | Sort-Object)
        }
    } elseif ([IO.File]::Exists($frS)) {
        $frL = @($frS)
    } elseif ([IO.Directory]::Exists($frS)) {
        throw "$frS is a folder: fetch takes a file or a pattern of files"
    }
    if (!$frL.Count) {
        frW 'N'
        exit 0
    }
    $frZ = 0
    foreach ($frF in $frL) {
        $frZ += (New-Object IO.FileInfo $frF).Length
    }
    if ($frZ -gt [long]$frP.max_bytes) {
        $frC = 5
        throw "$($frL.Count) files hold $frZ bytes, more than max_bytes ($($frP.max_bytes))"
    }
    $frB = New-Object byte[] 65536
    foreach ($frF in $frL) {
        # Shared for reading and writing: a log being written is read.
        $frI = New-Object IO.FileStream($frF, [IO.FileMode]::Open, [IO.FileAccess]::Read, [IO.FileShare]'ReadWrite, Delete')
        try {
            $frM = $frI.Length
            $frH = [BitConverter]::ToString([Security.Cryptography.SHA256]::Create().ComputeHash($frI)).Replace('-', '').ToLower()
            [void]$frI.Seek(0, [IO.SeekOrigin]::Begin)
            frW "F $frM $frH $([Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes([IO.Path]::GetFullPath($frF))))"
            while ($frM -gt 0) {
                $frK = [Math]::Min($frB.Length, $frM)
                $frJ = $frI.Read($frB, 0, $frK)
                if ($frJ -le 0) {
                    [Array]::Clear($frB, 0, $frK)
                    $frJ = $frK
                }
                $frO.Write($frB, 0, $frJ)
                $frM -= $frJ
            }
            $frO.Flush()
        } finally {
            $frI.Close()
        }
    }
    frW 'Z'
    exit 0
} catch {
    [Console]::Error.WriteLine('fleetrun-fetch: ' + $_)
    exit $frC
}
