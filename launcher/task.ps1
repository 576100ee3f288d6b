# fleetrun-task v1
# fleetrun's task script, commented source: what a step with run_as: system
# sends over WinRM, as powershell.exe -EncodedCommand, like the launcher.
# The wire form is this text without comment lines and indentation (the
# first line stays: it is the marker the simulator looks for).
#
# A WinRS shell is a network logon, and Windows refuses some things to it
# (wusa installing an .msu, the Windows Update Agent's downloader and
# installer, file shares on other machines); its processes also live and
# die with the shell. So the step runs as a one-shot scheduled task as
# SYSTEM with highest privileges, outside any shell, and this script,
# running in the shell, starts it and follows it. The text never varies
# with the step: what to do is the payload (docs/design.md, "Steps run as
# scheduled tasks"), base64 of a UTF-8 JSON document in the single
# $fleetrunPayload statement, or on stdin when the literal is empty.
#
# Operations (payload "op"):
#  run     register and run the task unless it exists and ran, or left an
#          exit code: a second run, after the controller lost its
#          connection or died, never starts the step again. Then follow.
#  follow  write the task's new output and its state as frames (below).
#  stop    end the task's process tree and the task.
#  forget  delete the task and its files.
#
# The task runs a batch file fleetrun wrote (payload "batch"): it switches
# its hidden console to UTF-8 (chcp 65001, what WinRS shells get), runs the
# same launcher a plain step runs, with the step's payload (the .in file)
# on stdin and stdout and stderr going to the .out and .err files byte for
# byte, then writes the exit code to the .rc file and exits with it.
#
# Frames, on stdout, each a line of ASCII ending in LF:
#   S started | S attached   the task was started now | existed already
#   O n  then n raw bytes    more of the task's stdout
#   E n  then n raw bytes    more of the task's stderr
#   X code                   the task finished with this exit code
#   L result                 the task is not running and left no exit
#                            code (ended, or the host restarted under it);
#                            result is its LastTaskResult
#   N                        no such task and no exit code
#   R                        still running after window_ms: follow again
#   K n                      stop ended n process trees
#   F                        forget is done
# Failures of the script itself go to stderr, with exit code 1.
#
# The text parses under Windows PowerShell 2.0 (stock 2008 R2), and uses
# only what 2.0 and the Task Scheduler 2.0 COM API have.
$ProgressPreference = 'SilentlyContinue'
$fleetrunPayload = ''
$frO = [Console]::OpenStandardOutput()
function frW($t) {
    # Writes one frame header.
    $b = [Text.Encoding]::ASCII.GetBytes($t + "`n")
    $frO.Write($b, 0, $b.Length)
    $frO.Flush()
}
function frOpen($p) {
    # Opens a file the task may still be writing; $null when it is not
    # there (yet).
    try {
        return New-Object IO.FileStream($p, [IO.FileMode]::Open, [IO.FileAccess]::Read, [IO.FileShare]'ReadWrite, Delete')
    } catch {
        return $null
    }
}
function frC($p, $o, $g) {
    # Copies what file $p holds past offset $o as frames tagged $g and
    # returns the new offset.
    $s = frOpen $p
    if (!$s) {
        return $o
    }
    try {
        [void]$s.Seek($o, [IO.SeekOrigin]::Begin)
        $b = New-Object byte[] 65536
        while (($n = $s.Read($b, 0, $b.Length)) -gt 0) {
            frW "$g $n"
            $frO.Write($b, 0, $n)
            $o += $n
        }
        $frO.Flush()
    } finally {
        $s.Close()
    }
    return $o
}
function frR($p) {
    # The exit code in the .rc file once cmd.exe has written its whole line
    # (digits and CR LF), else $null.
    $s = frOpen $p
    if (!$s) {
        return $null
    }
    try {
        $t = (New-Object IO.StreamReader($s)).ReadToEnd()
    } finally {
        $s.Close()
    }
    if ($t -match '^(-?[0-9]+)\r\n$') {
        return $matches[1]
    }
    return $null
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
        throw 'bad fleetrun task payload version'
    }
    # The name goes into a WQL pattern and file names: only these
    # characters (-cnotmatch: case-sensitive).
    $frN = [string]$frS.task
    if ($frN -cnotmatch '^fleetrun-[0-9a-z-]{1,64}$') {
        throw "bad task name $frN"
    }
    $frD = [string]$frS.dir
    $frF = Join-Path $frD $frN
    $frTS = New-Object -ComObject Schedule.Service
    $frTS.Connect()
    $frRoot = $frTS.GetFolder('\')
    $frTF = $null
    $frT = $null
    try {
        $frTF = $frRoot.GetFolder('fleetrun')
        $frT = $frTF.GetTask($frN)
    } catch {
        # No folder or no task yet.
    }
    $frOp = [string]$frS.op
    if ($frOp -eq 'run' -or $frOp -eq 'follow') {
        $frX = 'S attached'
        # 267011 (SCHED_S_TASK_HAS_NOT_RUN): registered but never run.
        if ($frOp -eq 'run' -and $null -eq (frR "$frF.rc") -and (!$frT -or ($frT.State -ne 4 -and $frT.LastTaskResult -eq 267011))) {
            if (!$frT) {
                if (!(Test-Path -LiteralPath $frD)) {
                    # Readable by SYSTEM and Administrators only: the files
                    # hold the step and its output. SIDs, so that the names
                    # do not matter on a localised Windows.
                    $frA = New-Object Security.AccessControl.DirectorySecurity
                    $frA.SetAccessRuleProtection($true, $false)
                    foreach ($frU in 'S-1-5-18', 'S-1-5-32-544') {
                        $frA.AddAccessRule((New-Object Security.AccessControl.FileSystemAccessRule((New-Object Security.Principal.SecurityIdentifier $frU), 'FullControl', 'ContainerInherit, ObjectInherit', 'None', 'Allow')))
                    }
                    [void][IO.Directory]::CreateDirectory($frD, $frA)
                }
                [IO.File]::WriteAllText("$frF.in", [string]$frS.input, [Text.Encoding]::ASCII)
                [IO.File]::WriteAllText("$frF.cmd", [string]$frS.batch, [Text.Encoding]::ASCII)
                if (!$frTF) {
                    $frTF = $frRoot.CreateFolder('fleetrun')
                }
                $frDef = $frTS.NewTask(0)
                $frDef.RegistrationInfo.Description = 'A fleetrun step; fleetrun deletes it once it has recorded the result.'
                # TASK_INSTANCES_IGNORE_NEW: a second Run never starts a
                # second instance. PT0S: no time limit.
                $frDef.Settings.MultipleInstances = 2
                $frDef.Settings.DisallowStartIfOnBatteries = $false
                $frDef.Settings.StopIfGoingOnBatteries = $false
                $frDef.Settings.ExecutionTimeLimit = 'PT' + [long]$frS.limit_s + 'S'
                # TASK_RUNLEVEL_HIGHEST, and an exec action.
                $frDef.Principal.RunLevel = 1
                $frAc = $frDef.Actions.Create(0)
                $frAc.Path = "$env:SystemRoot\System32\cmd.exe"
                $frAc.Arguments = '/d /c "' + $frF + '.cmd"'
                # TASK_CREATE_OR_UPDATE as SYSTEM (TASK_LOGON_SERVICE_ACCOUNT).
                $frT = $frTF.RegisterTaskDefinition($frN, $frDef, 6, 'SYSTEM', $null, 5)
            }
            [void]$frT.Run($null)
            $frX = 'S started'
        }
        frW $frX
        $frO1 = [long]$frS.out
        $frE1 = [long]$frS.err
        $frEnd = [DateTime]::UtcNow.AddMilliseconds([long]$frS.window_ms)
        # The first looks come quickly (a short step is done at once), then
        # every poll_ms: 25 ms, doubling up to poll_ms.
        $frZ = 25
        while ($true) {
            # Whether the task runs is read before its exit code, so a task
            # that ends in between is seen with its code.
            $frT = $null
            if ($frTF) {
                try {
                    $frT = $frTF.GetTask($frN)
                } catch {
                    $frT = $null
                }
            }
            $frRun = $frT -and $frT.State -eq 4
            $frC = frR "$frF.rc"
            $frO1 = frC "$frF.out" $frO1 'O'
            $frE1 = frC "$frF.err" $frE1 'E'
            if ($null -ne $frC) {
                frW "X $frC"
                break
            }
            if (!$frT) {
                frW 'N'
                break
            }
            if (!$frRun -and $frT.LastTaskResult -ne 267011) {
                frW ('L ' + $frT.LastTaskResult)
                break
            }
            if ([DateTime]::UtcNow -ge $frEnd) {
                frW 'R'
                break
            }
            Start-Sleep -Milliseconds ([Math]::Min($frZ, [long]$frS.poll_ms))
            $frZ *= 2
        }
    } elseif ($frOp -eq 'stop') {
        # Stopping a task ends its action's process only (schtasks /end
        # likewise), which would leave the step's program running: end the
        # tree first, from its root, the cmd.exe running the batch file.
        $frK = 0
        foreach ($frP in @(Get-WmiObject Win32_Process -Filter "Name='cmd.exe' AND CommandLine LIKE '%$frN.cmd%'")) {
            & "$env:SystemRoot\System32\taskkill.exe" /PID $frP.ProcessId /T /F | Out-Null
            $frK++
        }
        if ($frT) {
            $frT.Stop(0)
        }
        frW "K $frK"
    } elseif ($frOp -eq 'forget') {
        if ($frT) {
            $frTF.DeleteTask($frN, 0)
        }
        foreach ($frY in '.cmd', '.in', '.out', '.err', '.rc') {
            Remove-Item -LiteralPath "$frF$frY" -Force -EA 0
        }
        frW 'F'
    } else {
        throw "unknown operation $frOp"
    }
    exit 0
} catch {
    [Console]::Error.WriteLine('fleetrun task: ' + $_)
    exit 1
}
