# licgate home-user helper for Windows: tunnel "{{.Tunnel}}" to the office license gateway {{.Gateway}}.
#
#   Right-click > Run with PowerShell (as Administrator), or in an elevated PowerShell:
#     powershell -ExecutionPolicy Bypass -File .\{{.Tunnel}}-windows.ps1              set up (safe to run again)
#     powershell -ExecutionPolicy Bypass -File .\{{.Tunnel}}-windows.ps1 -Uninstall   undo everything
#
# Needs WireGuard for Windows (https://www.wireguard.com/install/) and {{.Tunnel}}.conf next to this script.
# It routes only {{.Gateway}} through the tunnel.
[CmdletBinding()]
param(
    [switch]$Uninstall,
    [switch]$Reresolve,
    [int]$MaxAge = {{.MaxAge}}
)
$ErrorActionPreference = 'Stop'

$Tunnel   = '{{.Tunnel}}'
$Gateway  = '{{.Gateway}}'
$Peer     = '{{.PeerKey}}'
$Endpoint = '{{.Endpoint}}'
$TaskName = "licgate re-resolve $Tunnel"
$WgDir    = Join-Path $env:ProgramFiles 'WireGuard'
$WgExe    = Join-Path $WgDir 'wireguard.exe'
$WgCli    = Join-Path $WgDir 'wg.exe'
$ConfDir  = Join-Path $env:ProgramData 'licgate'
$Conf     = Join-Path $ConfDir "$Tunnel.conf"
$Service  = "WireGuardTunnel`$$Tunnel"

function Say($msg) { Write-Host "licgate: $msg" }

function Find-Cmu {
    $candidates = @(
        (Join-Path $env:ProgramFiles 'CodeMeter\Runtime\bin\cmu.exe'),
        (Join-Path ${env:ProgramFiles(x86)} 'CodeMeter\Runtime\bin\cmu.exe')
    )
    $cmd = Get-Command cmu.exe -ErrorAction SilentlyContinue
    if ($cmd) { $candidates = @($cmd.Source) + $candidates }
    foreach ($c in $candidates) { if ($c -and (Test-Path $c)) { return $c } }
    return $null
}

function Assert-Admin {
    $id = [Security.Principal.WindowsPrincipal][Security.Principal.WindowsIdentity]::GetCurrent()
    if (-not $id.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
        throw 'Run this script as Administrator (right-click PowerShell > Run as administrator).'
    }
}

function Invoke-Reresolve {
    if (-not (Get-Service -Name $Service -ErrorAction SilentlyContinue)) { return }
    $line = & $WgCli show $Tunnel latest-handshakes | Where-Object { $_ -like "$Peer*" }
    $latest = 0
    if ($line) { $latest = [int64](($line -split '\s+')[1]) }
    $now = [DateTimeOffset]::UtcNow.ToUnixTimeSeconds()
    if ($latest -eq 0 -or ($now - $latest) -gt $MaxAge) {
        & $WgCli set $Tunnel peer $Peer endpoint $Endpoint
    }
}

function Install-Helper {
    Assert-Admin
    if (-not (Test-Path $WgExe)) { throw "WireGuard for Windows is not installed ($WgExe). Install it from https://www.wireguard.com/install/ and run this again." }
    $src = Join-Path $PSScriptRoot "$Tunnel.conf"
    if (-not (Test-Path $src)) { throw "$Tunnel.conf is not next to this script ($PSScriptRoot)." }
    New-Item -ItemType Directory -Force -Path $ConfDir | Out-Null
    $changed = -not (Test-Path $Conf) -or ((Get-FileHash $src).Hash -ne (Get-FileHash $Conf).Hash)
    if ($changed) {
        Copy-Item -Force $src $Conf
        & icacls $Conf /inheritance:r /grant:r 'SYSTEM:F' 'Administrators:F' | Out-Null
    }
    if (Get-Service -Name $Service -ErrorAction SilentlyContinue) {
        if ($changed) {
            & $WgExe /uninstalltunnelservice $Tunnel
            Start-Sleep -Seconds 2
            & $WgExe /installtunnelservice $Conf
            Say "tunnel $Tunnel updated"
        } else { Say "tunnel $Tunnel is already installed" }
    } else {
        & $WgExe /installtunnelservice $Conf
        Say "tunnel $Tunnel installed (starts with Windows)"
    }

    $cmu = Find-Cmu
    if (-not $cmu) {
        Say "CodeMeter's cmu.exe was not found. Install the CodeMeter runtime, then run this again, or add the server in CodeMeter WebAdmin (Configuration > Basic > Server Search List): $Gateway"
    } elseif ((& $cmu --list-server) -match [regex]::Escape($Gateway)) {
        Say "CodeMeter already lists $Gateway"
    } else {
        & $cmu --add-server $Gateway | Out-Null
        Say "added $Gateway to CodeMeter's server search list"
    }

    $self = Join-Path $ConfDir "$Tunnel-windows.ps1"
    if ($PSCommandPath -ne $self) { Copy-Item -Force $PSCommandPath $self }
    $action  = New-ScheduledTaskAction -Execute 'powershell.exe' -Argument "-NoProfile -ExecutionPolicy Bypass -File `"$self`" -Reresolve"
    $trigger = New-ScheduledTaskTrigger -Once -At (Get-Date) -RepetitionInterval (New-TimeSpan -Minutes 1)
    $principal = New-ScheduledTaskPrincipal -UserId 'SYSTEM' -RunLevel Highest
    Register-ScheduledTask -TaskName $TaskName -Action $action -Trigger $trigger -Principal $principal -Force | Out-Null
    Say "scheduled task '$TaskName' re-resolves the office name when the tunnel is quiet for $MaxAge s"
    Say "done: start your licensed application; it finds the license server at $Gateway"
}

function Uninstall-Helper {
    Assert-Admin
    Unregister-ScheduledTask -TaskName $TaskName -Confirm:$false -ErrorAction SilentlyContinue
    if (Get-Service -Name $Service -ErrorAction SilentlyContinue) { & $WgExe /uninstalltunnelservice $Tunnel }
    $cmu = Find-Cmu
    if ($cmu -and ((& $cmu --list-server) -match [regex]::Escape($Gateway))) {
        & $cmu --delete-server $Gateway | Out-Null
        Say "removed $Gateway from CodeMeter's server search list"
    }
    Remove-Item -Force -ErrorAction SilentlyContinue $Conf, (Join-Path $ConfDir "$Tunnel-windows.ps1")
    Say "tunnel $Tunnel removed"
}

if ($Reresolve) { Invoke-Reresolve }
elseif ($Uninstall) { Uninstall-Helper }
else { Install-Helper }
