# Runs the tests: ./test.ps1 [dotnet test options], e.g. ./test.ps1 --filter Category=Unit (see tests/README.md).
# Where bash exists this is ./test.sh (it sets up Debian's packages and the Slurm cluster the suite needs). Without bash
# only dotnet test runs: the Integration and Cluster tests need Debian's python3-pil, python3-onnx, nginx, chromium,
# npm and Slurm, and fail naming ./test.sh where those are missing.
$ErrorActionPreference = 'Stop'
$env:DOTNET_CLI_TELEMETRY_OPTOUT = '1'
$env:DOTNET_NOLOGO = '1'
if (Get-Command bash -ErrorAction SilentlyContinue) {
    & bash (Join-Path $PSScriptRoot 'test.sh') @args
    exit $LASTEXITCODE
}

Write-Host "test.ps1: no bash here: dotnet test only (the system packages and the Slurm cluster are ./test.sh's, on Debian)"
Write-Host "test.ps1: dotnet test Pipeline.sln $args"
& dotnet test (Join-Path $PSScriptRoot 'Pipeline.sln') @args 2>&1 | Tee-Object -Variable lines | ForEach-Object { Write-Host $_ }
$status = $LASTEXITCODE
# One summary line per test assembly: "Passed!  - Failed:     0, Passed:    33, Skipped:     0, Total: ...".
$summaries = @($lines | ForEach-Object { "$_" } | Where-Object { $_ -match '^(Passed|Failed)! +- ' })
function Sum($name) { ($summaries | ForEach-Object { if ($_ -match "${name}: +(\d+)") { [int]$Matches[1] } else { 0 } } | Measure-Object -Sum).Sum + 0 }
$passed = Sum 'Passed'; $failed = Sum 'Failed'; $skipped = Sum 'Skipped'
Write-Host ''
$line = "$passed passed, $failed failed"
if ($skipped -gt 0) { $line += ", $skipped skipped" }
Write-Host $line
if ($status -ne 0 -or $failed -ne 0 -or $passed -eq 0) { exit 1 }
exit 0
