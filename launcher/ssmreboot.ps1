# fleetrun-ssm-reboot v1
# fleetrun's reboot over AWS Systems Manager, commented source; the wire
# form is this text without comment lines and indentation. It is sent as
# the commands of AWS-RunPowerShellScript, not through the shim, because it
# uses the SSM agent's own reboot: exit code 3010 makes the agent restart
# the instance and run the script again once the instance is back. The
# second run finds the token the first one left and exits 0, so the command
# succeeds only after the restart, when the agent answers again.
#
# The token is unique to the run and the reboot; it is data, the only part
# that varies. fleetrunDelay is the pre-reboot delay in seconds.
$frK = 'HKLM:\SOFTWARE\fleetrun\reboot'
$frT = 'fleetrunToken'
if ($null -ne (Get-ItemProperty -Path $frK -Name $frT -EA 0)) {
    Remove-ItemProperty -Path $frK -Name $frT
    exit 0
}
if (!(Test-Path $frK)) {
    New-Item -Path $frK -Force | Out-Null
}
New-ItemProperty -Path $frK -Name $frT -Value 1 -Force | Out-Null
Start-Sleep -Seconds fleetrunDelay
exit 3010
