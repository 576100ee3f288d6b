# fleetrun-fetch v1
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
