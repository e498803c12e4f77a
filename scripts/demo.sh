#!/usr/bin/env bash
# The main job on a built-in input, needing only the .NET SDK (no qemu-img):
# makes a 64 MiB sparse raw disk with a known pattern, converts it to qcow2 (plain, deflate- and
# zstd-compressed), shows info/map, checks the qcow2 files, compares each with the raw original and
# converts one back to raw.
# Usage: scripts/demo.sh [DIR]   (DIR: where the images go; default a new temporary directory)
# DISKIMAGE may name a prebuilt diskimage executable; by default the CLI is built from source.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$(mktemp -d "${TMPDIR:-/tmp}/diskimage-demo.XXXXXX")}
mkdir -p "$dir"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

if [ -n "${DISKIMAGE:-}" ]; then
  di() { "$DISKIMAGE" "$@"; }
else
  echo "building the diskimage CLI (Release)..."
  project="$repo/src/DiskImage.Cli/DiskImage.Cli.csproj"
  dotnet build "$project" -c Release -nologo -v quiet -clp:NoSummary >/dev/null
  cli_dll=$(dotnet msbuild "$project" -nologo -p:Configuration=Release -getProperty:TargetPath)
  [ -f "$cli_dll" ] || { echo "built CLI not found at '$cli_dll'" >&2; exit 1; }
  di() { dotnet "$cli_dll" "$@"; }
fi
run() { printf '\n$ diskimage %s\n' "$*"; di "$@"; }

cd "$dir"
rm -f demo.raw demo.qcow2 demo-zlib.qcow2 demo-zstd.qcow2 roundtrip.raw

# A sparse raw disk: compressible text, a high-entropy block, numbers, and a write that straddles
# cluster boundaries at an odd offset; everything else is a hole.
truncate -s 64M demo.raw
put() { dd of=demo.raw bs=64K seek="$1" oflag=seek_bytes conv=notrunc status=none iflag=fullblock; }
{ yes "DiskImage demo: the guest sees this text at offset 0." || true; } | head -c 1048576 | dd of=demo.raw conv=notrunc status=none
seq 1 400000 | gzip -n -1 | dd of=demo.raw bs=1M seek=8 conv=notrunc status=none iflag=fullblock
seq 1 200000 | dd of=demo.raw bs=1M seek=32 conv=notrunc status=none iflag=fullblock
printf 'a write at an odd offset across a cluster boundary\n%.0s' $(seq 1 2000) | put $((60 * 1048576 - 50001))
echo "input: $dir/demo.raw (64 MiB virtual, sparse)"

run convert -p -f raw -O qcow2 demo.raw demo.qcow2
run convert -f raw -O qcow2 -c demo.raw demo-zlib.qcow2
run convert -f raw -O qcow2 -c -o compression_type=zstd demo.raw demo-zstd.qcow2
run info demo-zstd.qcow2
run info --output=json demo.qcow2
run map --output=json demo.qcow2
for f in demo.qcow2 demo-zlib.qcow2 demo-zstd.qcow2; do
  run check "$f"
  run compare demo.raw "$f"
done
run convert -f qcow2 -O raw demo-zstd.qcow2 roundtrip.raw
run compare -f raw -F raw demo.raw roundtrip.raw

printf '\nfiles (allocated KiB, name):\n'
du -k demo.raw demo.qcow2 demo-zlib.qcow2 demo-zstd.qcow2 roundtrip.raw
echo "demo ok: $dir"
