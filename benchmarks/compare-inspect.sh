#!/usr/bin/env bash
# Times `diskimage inspect` against `virt-inspector -a` on the same whole-disk guest, in one run.
#
# The guest is written by DiskImage's own writers (the benchmarks' `build-guest` command, the disk of
# GuestInspectBenchmarks): a 20 GiB sparse qcow2, GPT with a BIOS boot partition, an ESP (FAT32) and an LVM2 PV
# holding lv_root (ext4 of the tree), lv_var (XFS) and lv_log (ext4), laid out like the TripleO whole-disk image.
# Tree: $1, else $DISKIMAGE_DEBOOTSTRAP_TREE, else a small generated tree.
#
# Reported: `diskimage inspect` as a whole process RUNS times (start-up included; best and median), Guest.Open +
# Inspect in-process (best and median of RUNS after a warm-up), and `virt-inspector` (LIBGUESTFS_BACKEND=direct,
# an appliance VM: minutes under TCG) VIRT_RUNS times; then the ratio virt-inspector / diskimage. Both reports
# are printed (root, distro, mount points) so that they can be compared.
#
# Environment: RUNS (default 20), VIRT_RUNS (default 1; 0 skips virt-inspector), DISKIMAGE (a diskimage
# executable; default: the Release build of src/DiskImage.Cli), TMPDIR (where the image goes).
# Usage: benchmarks/compare-inspect.sh [tree]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
tree="${1:-${DISKIMAGE_DEBOOTSTRAP_TREE:-}}"
runs="${RUNS:-20}"
virt_runs="${VIRT_RUNS:-1}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
out="$(mktemp -d)"; trap 'rm -rf "$out"' EXIT

dotnet build -c Release "$here/DiskImage.Benchmarks" -v q -nologo >/dev/null
bench="$here/DiskImage.Benchmarks/bin/Release/net10.0/DiskImage.Benchmarks"
if [ -n "${DISKIMAGE:-}" ]; then
  di="$DISKIMAGE"
else
  dotnet build -c Release "$repo/src/DiskImage.Cli" -v q -nologo >/dev/null
  di="$repo/src/DiskImage.Cli/bin/Release/net10.0/DiskImage.Cli"
fi

image="$out/guest.qcow2"
build_s=$("$bench" build-guest "$image" "$tree")
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "guest: 20 GiB qcow2, $(du -k "$image" | cut -f1) KiB allocated, written in ${build_s} s; tree: ${tree:-generated}"

t() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N); echo $(( (e - s) / 1000000 )); }
"$di" inspect "$image" > "$out/ours.txt"
times=()
for i in $(seq "$runs"); do times+=("$(t "$di" inspect "$image")"); done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
best=$(echo "$sorted" | head -1); median=$(echo "$sorted" | sed -n "$(( (runs + 1) / 2 ))p")
read -r in_best in_median < <("$bench" time-inspect "$image" "$runs")
echo "diskimage inspect (process): best ${best} ms, median ${median} ms of $runs"
echo "Guest.Open + Inspect (in-process): best ${in_best} ms, median ${in_median} ms of $runs"
echo "--- diskimage inspect"; cat "$out/ours.txt"

if [ "$virt_runs" -gt 0 ] && command -v virt-inspector >/dev/null; then
  export LIBGUESTFS_BACKEND=direct
  vbest=
  for i in $(seq "$virt_runs"); do
    s=$(date +%s%N)
    virt-inspector -a "$image" > "$out/virt.xml" 2> "$out/virt.err" || { cat "$out/virt.err"; echo "virt-inspector failed"; exit 1; }
    e=$(date +%s%N); v=$(( (e - s) / 1000000 ))
    echo "virt-inspector run $i: $v ms"
    if [ -z "$vbest" ] || [ "$v" -lt "$vbest" ]; then vbest=$v; fi
  done
  echo "--- virt-inspector"
  grep -E '<(root|distro|major_version|minor_version|product_name|hostname|mountpoint)' "$out/virt.xml" | sed 's/^ *//'
  printf 'ratio virt-inspector / diskimage inspect (process, best): %.0fx\n' "$(echo "$vbest / $best" | bc -l)"
fi
