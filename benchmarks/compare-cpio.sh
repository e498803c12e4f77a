#!/usr/bin/env bash
# Packs the same real tree with DiskImage and with `find | sort | cpio -o -H newc | zstd -3` and
# `... | gzip -6`, in one run, and prints sizes, times and ours/pipeline ratios.
# DISKIMAGE_LEVEL and DISKIMAGE_ZSTD_WORKERS are passed to our side for experiments.
# Tree: $1, else benchmarks/.cache/debootstrap-minbase if present, else /usr/share.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tree="${1:-}"
if [ -z "$tree" ]; then
  if [ -d "$here/.cache/debootstrap-minbase" ]; then tree="$here/.cache/debootstrap-minbase"; else tree=/usr/share; fi
fi
out="$(mktemp -d)"; trap 'rm -rf "$out"' EXIT
dotnet build -c Release "$here/DiskImage.Benchmarks" -v q -nologo >/dev/null
bench="$here/DiskImage.Benchmarks/bin/Release/net10.0/DiskImage.Benchmarks"
files=$(find "$tree" | wc -l); bytes=$(du -sb "$tree" | cut -f1)
echo "tree: $tree ($files entries, $((bytes / 1048576)) MiB); $(nproc) CPUs"
# Warm the page cache so both sides read from memory.
find "$tree" -type f -print0 | xargs -0 cat > /dev/null 2>&1 || true
t() { local s e; s=$(date +%s.%N); "$@" >/dev/null; e=$(date +%s.%N); echo "$e - $s" | bc; }
for c in zstd gzip; do
  if [ $c = zstd ]; then comp="zstd -3 -q -T1"; else comp="gzip -6 -n"; fi
  pipe=$(t sh -c "cd '$tree' && find . | LC_ALL=C sort | cpio -o -H newc --quiet | $comp > '$out/pipe.$c'")
  ours=$(t "$bench" pack-initramfs "$tree" "$out/ours.$c" "$c")
  ps=$(stat -c %s "$out/pipe.$c"); os=$(stat -c %s "$out/ours.$c")
  printf '%-5s pipeline %7.2f s %10d B | ours %7.2f s %10d B | time ratio ours/pipeline %.2f | size ratio %.3f\n' \
    "$c" "$pipe" "$ps" "$ours" "$os" "$(echo "$ours / $pipe" | bc -l)" "$(echo "$os / $ps" | bc -l)"
done
