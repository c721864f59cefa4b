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
# Where applications look for the license servers (docs/home-users.md).
# FlexNet's and RLM's variables go into the machine's environment (this
# script runs elevated: a user variable would land in the administrator's
# profile, not necessarily the user's); our entry is put in front of what
# is there and taken out again by -Uninstall.
$UseCodeMeter = ${{if .CodeMeter}}true{{else}}false{{end}}
$UseLdk       = ${{if .LDK}}true{{else}}false{{end}}
$LicenseVars  = [ordered]@{ {{- .PSEnv -}} }
$HasplmDir    = if (${env:CommonProgramFiles(x86)}) { Join-Path ${env:CommonProgramFiles(x86)} 'Aladdin Shared\HASP' } else { Join-Path $env:CommonProgramFiles 'Aladdin Shared\HASP' }
$HasplmIni    = Join-Path $HasplmDir 'hasplm.ini'
$LdkMark      = Join-Path $ConfDir "$Tunnel.ldk-added"

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

# Set-LicenseVars puts each value in front of the machine variable's list
# once; Remove-LicenseVars takes exactly those entries out again.
function Set-LicenseVars {
    foreach ($v in $LicenseVars.GetEnumerator()) {
        $name = $v.Key; $value = $v.Value
        $old = [Environment]::GetEnvironmentVariable($name, 'Machine')
        $list = @(); if ($old) { $list = @($old -split ';' | Where-Object { $_ -ne '' }) }
        $add = @($value -split ';' | Where-Object { $list -notcontains $_ })
        if ($add.Count -eq 0) { Say "$name already lists $value"; continue }
        [Environment]::SetEnvironmentVariable($name, (($add + $list) -join ';'), 'Machine')
        Say "$name = $(($add + $list) -join ';') (for applications started from now on)"
    }
}

function Remove-LicenseVars {
    foreach ($v in $LicenseVars.GetEnumerator()) {
        $name = $v.Key; $ours = @($v.Value -split ';')
        $old = [Environment]::GetEnvironmentVariable($name, 'Machine')
        if (-not $old) { continue }
        $rest = @($old -split ';' | Where-Object { $_ -ne '' -and $ours -notcontains $_ })
        if ($rest.Count -eq 0) { [Environment]::SetEnvironmentVariable($name, $null, 'Machine') }
        else { [Environment]::SetEnvironmentVariable($name, ($rest -join ';'), 'Machine') }
        Say "$name no longer lists $($v.Value)"
    }
}

# Sentinel LDK's License Manager reads the [REMOTE] section's serveraddr
# lines of hasplm.ini (Thales: "Working Directly With License Manager
# Configuration Files") when the hasplms service starts.
function Test-LdkServer {
    if (-not (Test-Path $HasplmIni)) { return $false }
    $remote = $false
    foreach ($line in Get-Content $HasplmIni) {
        if ($line -match '^\s*\[') { $remote = $line -match '^\s*\[REMOTE\]' }
        elseif ($remote -and (($line -replace '\s', '') -ieq "serveraddr=$Gateway")) { return $true }
    }
    return $false
}

function Restart-Ldk {
    if (Get-Service -Name hasplms -ErrorAction SilentlyContinue) { Restart-Service -Name hasplms -ErrorAction SilentlyContinue }
}

function Add-LdkServer {
    if (Test-LdkServer) { Say "Sentinel LDK already searches $Gateway ($HasplmIni)"; return }
    New-Item -ItemType Directory -Force -Path $HasplmDir | Out-Null
    $created = -not (Test-Path $HasplmIni)
    $lines = @(); if (-not $created) { $lines = @(Get-Content $HasplmIni) }
    $out = New-Object System.Collections.Generic.List[string]
    $done = $false
    foreach ($line in $lines) {
        $out.Add($line)
        if (-not $done -and $line -match '^\s*\[REMOTE\]') { $out.Add("serveraddr = $Gateway"); $done = $true }
    }
    if (-not $done) { $out.Add('[REMOTE]'); $out.Add("serveraddr = $Gateway") }
    Set-Content -Path $HasplmIni -Value $out -Encoding ASCII
    Set-Content -Path $LdkMark -Value $(if ($created) { 'created' } else { '' })
    Restart-Ldk
    Say "added $Gateway to Sentinel LDK's remote search ($HasplmIni [REMOTE] serveraddr)"
}

function Remove-LdkServer {
    if (-not (Test-Path $LdkMark)) { return }
    if (Test-Path $HasplmIni) {
        $remote = $false
        $out = foreach ($line in Get-Content $HasplmIni) {
            if ($line -match '^\s*\[') { $remote = $line -match '^\s*\[REMOTE\]' }
            if (-not ($remote -and (($line -replace '\s', '') -ieq "serveraddr=$Gateway"))) { $line }
        }
        Set-Content -Path $HasplmIni -Value $out -Encoding ASCII
        # A file this script made and that holds nothing else goes too.
        if (((Get-Content $LdkMark) -eq 'created') -and ((@($out) -join '').Trim() -eq '[REMOTE]')) { Remove-Item -Force $HasplmIni }
        Restart-Ldk
        Say "removed $Gateway from Sentinel LDK's remote search"
    }
    Remove-Item -Force $LdkMark
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
    if (-not $UseCodeMeter) {
        # the office fronts no CodeMeter server
    } elseif (-not $cmu) {
        Say "CodeMeter's cmu.exe was not found. Install the CodeMeter runtime, then run this again, or add the server in CodeMeter WebAdmin (Configuration > Basic > Server Search List): $Gateway"
    } elseif ((& $cmu --list-server) -match [regex]::Escape($Gateway)) {
        Say "CodeMeter already lists $Gateway"
    } else {
        & $cmu --add-server $Gateway | Out-Null
        Say "added $Gateway to CodeMeter's server search list"
    }
    Set-LicenseVars
    if ($UseLdk) { Add-LdkServer }

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
    Remove-LicenseVars
    Remove-LdkServer
    Remove-Item -Force -ErrorAction SilentlyContinue $Conf, (Join-Path $ConfDir "$Tunnel-windows.ps1")
    Say "tunnel $Tunnel removed"
}

if ($Reresolve) { Invoke-Reresolve }
elseif ($Uninstall) { Uninstall-Helper }
else { Install-Helper }
