# fleetrun-steprun v1
# fleetrun's step-run script, commented source (docs/design.md, "Step
# runs"): several consecutive steps of a host in one launch. It travels as
# the script of a launcher payload, so the launcher (launcher.ps1) runs it
# in a child scope; its wire form is this text without comment lines and
# indentation. The steps and their rules are data: base64 of a UTF-8 JSON
# document ({"v":1,"kind":"run","steps":[...]}) in the single
# $fleetrunPayload statement below.
#
# Every step runs in a process of its own, one after another: an argv step
# starts its program exactly as the launcher does for a step alone, a
# PowerShell step starts a powershell.exe running the launcher with the
# step's own payload on stdin, so its exit, $LASTEXITCODE and throw behave
# as alone. Their output is forwarded as frames on stdout, which carries
# nothing else: nothing here may write to the pipeline (the launcher would
# print it), so every value that is not wanted is assigned or cast to
# [void].
#
# Frames (an ASCII header line, then n raw bytes for O and E; i is the
# step's index, a the attempt, t milliseconds since the run started):
#   B i a t, O i n, E i n, X i a code t, T i a t, and Z t last.
#
# Frames are held back and written out together: when the run ends,
# before a retry's delay, once 250 ms have passed since the oldest frame
# held, or when 64 KiB are held. A run of short steps then reaches WinRS
# at once and one Receive carries all of it, while a long step's output
# still streams, at most about 250 ms late.
$fleetrunPayload = ''
$frJ = New-Object Web.Script.Serialization.JavaScriptSerializer
$frJ.MaxJsonLength = [int]::MaxValue
$frS = $frJ.DeserializeObject([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($fleetrunPayload)))
if ($frS.v -ne 1 -or $frS.kind -ne 'run') {
    throw 'bad fleetrun step-run payload'
}
# Frames are written as bytes, so a program's output keeps its exact bytes
# whatever its encoding.
$z = [Console]::OpenStandardOutput()
$w = [Diagnostics.Stopwatch]::StartNew()
$zb = New-Object IO.MemoryStream
$zs = New-Object Diagnostics.Stopwatch
# The powershell.exe of a PowerShell step runs the launcher's stdin
# variant: the text this process was started with, its payload literal
# emptied when the payload came inline (the replacement is split so that
# this script keeps a single payload statement). Started in the compressed
# form, the bootstrap left that text in $fleetrunLauncher; otherwise the
# last word of the command line is -EncodedCommand's argument.
if ($fleetrunLauncher) {
    $t = [string]$fleetrunLauncher
} else {
    $t = [Text.Encoding]::Unicode.GetString([Convert]::FromBase64String(([Environment]::CommandLine.Trim() -split ' ')[-1]))
}
$t = $t -replace "(?m)^\`$fleetrunPayload = '[A-Za-z0-9+/=]*'", ('$$fleetrun' + 'Payload = ''''')
$pe = $env:SystemRoot + '\System32\WindowsPowerShell\v1.0\powershell.exe'
$pa = '-NoLogo -NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand ' + [Convert]::ToBase64String([Text.Encoding]::Unicode.GetBytes($t))
function frH($h, $b, $n) {
    # One frame, held: its ASCII header line, then n bytes of b. $zs
    # times the oldest frame held.
    if (!$zb.Length) {
        $zs.Reset()
        $zs.Start()
    }
    $x = [Text.Encoding]::ASCII.GetBytes($h + "`n")
    $zb.Write($x, 0, $x.Length)
    if ($n) {
        $zb.Write($b, 0, $n)
    }
    if ($zb.Length -ge 65536) {
        frW
    }
}
function frW {
    # Writes out the frames held. (Not frF: the launcher running this
    # script has a function of that name.)
    if ($zb.Length) {
        $z.Write($zb.GetBuffer(), 0, [int]$zb.Length)
        $z.Flush()
        $zb.SetLength(0)
    }
}
# An error that ends this script still writes out the frames held.
trap {
    frW
    break
}
# PowerShell steps' processes are started ahead, up to four at a time,
# in step order: a powershell.exe takes far longer to start than the
# programs of argv steps, and started together they start in parallel. A
# process started ahead only waits for its payload on stdin: it inherits
# this process's environment and folder as they are between steps (as a
# step alone inherits the shell's) and runs nothing of the step before the
# step's turn. A further attempt of a step starts a process of its own.
# Those never used, because the run stopped, are ended at the end.
$ss = @($frS.steps)
$pq = New-Object Collections.Queue
$pk = New-Object Collections.Queue
$pn = 0
function frP {
    # A powershell.exe for a PowerShell step, its pipes redirected.
    $x = New-Object Diagnostics.ProcessStartInfo $pe, $pa
    $x.UseShellExecute = $false
    $x.RedirectStandardInput = $true
    $x.RedirectStandardOutput = $true
    $x.RedirectStandardError = $true
    [Diagnostics.Process]::Start($x)
}
function frK {
    # Ends the processes started ahead and not used.
    foreach ($x in $pq) {
        if ($x) {
            try {
                $x.Kill()
            } catch {
            }
        }
    }
}
for ($y = 0; $y -lt $ss.Count; $y++) {
    $s = $ss[$y]
    while ($pq.Count -lt 4 -and $pn -lt $ss.Count) {
        if ($ss[$pn].kind -ne 'argv') {
            # A process that cannot be started here is started again at
            # the step's turn, where its error is the step's.
            $x = $null
            try {
                $x = frP
            } catch {
            }
            $pq.Enqueue($x)
            $pk.Enqueue($pn)
        }
        $pn++
    }
    $i = $s.index
    $a = 0
    while (1) {
        $a++
        frH "B $i $a $($w.ElapsedMilliseconds)"
        $f = New-Object Diagnostics.ProcessStartInfo
        $f.UseShellExecute = $false
        $f.RedirectStandardInput = $true
        $f.RedirectStandardOutput = $true
        $f.RedirectStandardError = $true
        $v = @{}
        $l = [Environment]::CurrentDirectory
        $p = $null
        try {
            if ($s.kind -eq 'argv') {
                # As a step alone: the same FileName/Arguments split, the
                # environment set on this process for the start (names
                # spelled as given; ProcessStartInfo would lower-case
                # them) and the folder entered with -EA Stop, so that a
                # missing one fails the step.
                $f.FileName = $s.file
                $g = [string]$s.command_line
                if ($g.Length -gt $f.FileName.Length + 3) {
                    $f.Arguments = $g.Substring($f.FileName.Length + 3)
                }
                foreach ($k in $s.env.GetEnumerator()) {
                    $v[$k.Key] = [Environment]::GetEnvironmentVariable($k.Key)
                    [Environment]::SetEnvironmentVariable($k.Key, [string]$k.Value)
                }
                if ($s.workdir) {
                    Set-Location -LiteralPath $s.workdir -EA Stop
                    [Environment]::CurrentDirectory = $s.workdir
                }
                $p = [Diagnostics.Process]::Start($f)
            } else {
                if ($pk.Count -and $pk.Peek() -eq $y) {
                    $null = $pk.Dequeue()
                    $p = $pq.Dequeue()
                }
                if ($a -gt 1 -or !$p) {
                    $p = frP
                }
            }
        } catch {
            # The program could not be started (or its folder entered):
            # the attempt ends with 1 and the error on stderr, as the
            # launcher writes it for a step alone.
            $m = "$_"
            if ($_.InvocationInfo) {
                $m += "`n" + $_.InvocationInfo.PositionMessage
            }
            $q = [Console]::OutputEncoding.GetBytes($m + "`r`n")
            frH "E $i $($q.Length)" $q $q.Length
        } finally {
            foreach ($k in $v.GetEnumerator()) {
                [Environment]::SetEnvironmentVariable($k.Key, $k.Value)
            }
            Set-Location -LiteralPath $l
            [Environment]::CurrentDirectory = $l
        }
        $c = 1
        $d = 0
        if ($p) {
            if ($s.kind -ne 'argv') {
                # The step's own payload, which its launcher reads to the
                # end before it runs anything.
                $q = [Text.Encoding]::ASCII.GetBytes($s.payload)
                $p.StandardInput.BaseStream.Write($q, 0, $q.Length)
            }
            $p.StandardInput.Close()
            # Both pipes are read as data arrives (BeginRead works on .NET
            # 2.0 too), so a chatty stderr never blocks stdout.
            $u = $p.StandardOutput.BaseStream
            $e = $p.StandardError.BaseStream
            $bo = New-Object byte[] 65536
            $be = New-Object byte[] 65536
            $ru = $u.BeginRead($bo, 0, 65536, $null, $null)
            $re = $e.BeginRead($be, 0, 65536, $null, $null)
            $sw = [Diagnostics.Stopwatch]::StartNew()
            while ($ru -or $re) {
                $hs = @()
                if ($ru) {
                    $hs += $ru.AsyncWaitHandle
                }
                if ($re) {
                    $hs += $re.AsyncWaitHandle
                }
                # Wake up in time to write out held frames when theirs is up.
                $tw = 200
                if ($zb.Length) {
                    $tw = [int][Math]::Max([long]1, [Math]::Min([long]200, 250 - $zs.ElapsedMilliseconds))
                }
                [void][Threading.WaitHandle]::WaitAny([Threading.WaitHandle[]]$hs, $tw)
                if ($ru -and $ru.IsCompleted) {
                    $n = $u.EndRead($ru)
                    $ru = $null
                    if ($n) {
                        frH "O $i $n" $bo $n
                        $ru = $u.BeginRead($bo, 0, 65536, $null, $null)
                    }
                }
                if ($re -and $re.IsCompleted) {
                    $n = $e.EndRead($re)
                    $re = $null
                    if ($n) {
                        frH "E $i $n" $be $n
                        $re = $e.BeginRead($be, 0, 65536, $null, $null)
                    }
                }
                if (!$d -and $s.timeout_ms -and $sw.ElapsedMilliseconds -ge $s.timeout_ms) {
                    # Past its timeout: the step's process tree ends, as
                    # WinRS's terminate ends a step sent alone.
                    $d = 1
                    $null = & taskkill.exe /PID $p.Id /T /F 2>&1
                    $sw = [Diagnostics.Stopwatch]::StartNew()
                }
                if ($zb.Length -and $zs.ElapsedMilliseconds -ge 250) {
                    frW
                }
                if ($d -and $sw.ElapsedMilliseconds -ge 10000) {
                    # A process outside the tree still holds the pipes.
                    break
                }
            }
            if (!$d) {
                $p.WaitForExit()
                # ExitCode is an Int32; the frame carries the DWORD.
                $c = [long]$p.ExitCode
                if ($c -lt 0) {
                    $c += 4294967296
                }
            }
        }
        if ($d) {
            frH "T $i $a $($w.ElapsedMilliseconds)"
            $o = 0
            $r = 0
        } else {
            frH "X $i $a $c $($w.ElapsedMilliseconds)"
            $o = $s.accept -contains $c
            $r = !$o -and ($s.retry_on -contains $c) -and $a -le $s.retries
        }
        if ($o) {
            break
        }
        if (!$r) {
            if (!$s.continue_on_error) {
                frK
                frH "Z $($w.ElapsedMilliseconds)"
                frW
                exit 0
            }
            break
        }
        frW
        Start-Sleep -Milliseconds $s.retry_delays_ms[$a - 1]
    }
}
frK
frH "Z $($w.ElapsedMilliseconds)"
frW
exit 0
