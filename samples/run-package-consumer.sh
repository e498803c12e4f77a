#!/usr/bin/env bash
# Uses the library as a customer does: packs DiskImage into a local folder feed, restores
# samples/PackageConsumer from that feed (a package reference, not a project reference), publishes
# it with Native AOT (trim and AOT warnings fail the publish) and runs the native program.
# Usage: samples/run-package-consumer.sh [WORKDIR]   (prints "consumer ok" last)
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-$(mktemp -d)}
mkdir -p "$work"
# A version of its own per run: the NuGet cache never serves an older build under the same number.
version="0.0.0-local.$(date -u +%Y%m%d%H%M%S).$$"
dotnet pack src/DiskImage/DiskImage.csproj -c Release -nologo -v quiet -o "$work/feed" -p:PackageVersion="$version"
dotnet publish samples/PackageConsumer/PackageConsumer.csproj -c Release -nologo -r linux-x64 \
  -o "$work/publish" -p:DiskImageVersion="$version" -p:RestoreAdditionalProjectSources="$work/feed" \
  2>&1 | tee "$work/publish.log"
if grep -E "warning (IL|CS|NU)[0-9]+" "$work/publish.log"; then
  echo "publish reported warnings"; exit 1
fi
[ -x "$work/publish/PackageConsumer" ] || { echo "no native executable"; exit 1; }
"$work/publish/PackageConsumer"
