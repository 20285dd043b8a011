# Runs the pipeline's Cake host: ./build.ps1 [--target=Task] [options]  (./build.ps1 --help lists them).
# The host is rebuilt only when a source or build file is newer than the last build (see build.sh).
$ErrorActionPreference = 'Stop'
$root = $PSScriptRoot
$hostDll = Join-Path $root 'build/bin/Release/Build.dll'
$stamp = Join-Path $root 'build/obj/.host-built'

function Test-Stale {
    if (-not (Test-Path $hostDll) -or -not (Test-Path $stamp)) { return $true }
    $built = (Get-Item $stamp).LastWriteTimeUtc
    $sources = @(Get-ChildItem -Path (Join-Path $root 'build'), (Join-Path $root 'src'), (Join-Path $root 'tools') -Recurse -File |
        Where-Object { $_.FullName -notmatch '[\\/](bin|obj)[\\/]|[\\/]build[\\/]report[\\/]' })
    $sources += Get-ChildItem -Path $root -File -Filter 'Directory.*'
    $sources += Get-Item (Join-Path $root 'global.json')
    return [bool]($sources | Where-Object { $_.LastWriteTimeUtc -gt $built } | Select-Object -First 1)
}

if (Test-Stale) {
    Write-Host 'Building the pipeline host (build/Build.csproj)...'
    $log = dotnet build (Join-Path $root 'build/Build.csproj') -c Release --nologo -v quiet 2>&1
    if ($LASTEXITCODE -ne 0) { $log | Write-Host; exit $LASTEXITCODE }
    New-Item -ItemType File -Force -Path $stamp | Out-Null
}
& dotnet $hostDll @args
exit $LASTEXITCODE
