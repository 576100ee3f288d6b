# fleetrun-launcher v1
$ProgressPreference = 'SilentlyContinue'
$fleetrunPayload = ''
$frP = New-Object Collections.ArrayList
$frO = [Console]::Out
function frF {
if ($frP.Count) {
$frO.Write(($frP | Out-String))
$frP.Clear()
}
}
function frE($r) {
frF
$t = "$r"
if ($r.FullyQualifiedErrorId -notlike 'NativeCommandError*' -and $r.InvocationInfo) {
$t += "`n" + $r.InvocationInfo.PositionMessage
}
[Console]::Error.WriteLine($t)
}
try {
if (!$fleetrunPayload) {
$fleetrunPayload = [Console]::In.ReadToEnd()
}
Add-Type -AssemblyName System.Web.Extensions
$frJ = New-Object Web.Script.Serialization.JavaScriptSerializer
$frJ.MaxJsonLength = [int]::MaxValue
$frS = $frJ.DeserializeObject([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($fleetrunPayload.Trim())))
if ($frS.v -ne 1) {
throw 'bad fleetrun payload version'
}
foreach ($frK in $frS.env.GetEnumerator()) {
[Environment]::SetEnvironmentVariable($frK.Key, [string]$frK.Value)
}
$frD = [string]$frS.workdir
if ($frD) {
Set-Location -LiteralPath $frD -EA Stop
[Environment]::CurrentDirectory = $frD
}
if ($frS.kind -eq 'argv') {
$frI = New-Object Diagnostics.ProcessStartInfo $frS.file
$frI.UseShellExecute = $false
$frL = [string]$frS.command_line
if ($frL.Length -gt $frI.FileName.Length + 3) {
$frI.Arguments = $frL.Substring($frI.FileName.Length + 3)
}
$frX = [Diagnostics.Process]::Start($frI)
$frX.WaitForExit()
exit $frX.ExitCode
}
$global:LASTEXITCODE = 0
$frB = [ScriptBlock]::Create($frS.script)
$frR = '*>&1'
if ($PSVersionTable.PSVersion.Major -lt 3) {
$frR = '2>&1'
}
do {
try {
& ([ScriptBlock]::Create('& $frB ' + $frR)) | ForEach-Object {
if ($null -eq $_) {
} elseif ($_ -is [Management.Automation.ErrorRecord]) {
frE $_
} elseif ($_ -is [Management.Automation.InformationalRecord]) {
frF
$frO.WriteLine(($_.GetType().Name -replace 'Record').ToUpper() + ': ' + $_.Message)
} elseif ($_ -is [string] -or "$($_.GetType())" -like '*.InformationRecord') {
frF
$frO.WriteLine("$_")
} else {
[void]$frP.Add($_)
}
}
} finally {
frF
}
} while (0)
} catch {
frE $_
exit 1
}
$frN = 0
$frA = $frB.Ast.EndBlock.Statements
if ($frA.Count -and $frA[-1] -is [Management.Automation.Language.PipelineAst]) {
foreach ($frC in $frA[-1].PipelineElements) {
if ($frC -is [Management.Automation.Language.CommandAst]) {
$frM = $frC.GetCommandName()
if ($frM) {
$frM = @(Get-Command $frM -EA 0)[0]
if ($frM.CommandType -eq 'Alias') {
$frM = $frM.ResolvedCommand
}
$frN = $frN -or $frM.CommandType -eq 'Application'
} else {
$frN = 1
}
}
}
}
if ($frN -and $LASTEXITCODE -is [int]) {
exit $LASTEXITCODE
}
exit 0
