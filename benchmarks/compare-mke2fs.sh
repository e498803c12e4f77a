#!/usr/bin/env bash
# Builds an ext4 image from the same real tree with DiskImage (Ext4FileSystem.Build, through the small
# Ext4BuildDriver) and with `mke2fs -t ext4 -d`, at the same size, alternating RUNS times in one run; prints
# the best wall time of each (whole processes, start-up included) and the ratio ours/mke2fs, then checks our
# image with `e2fsck -fn`.
# Tree: $1, else $DISKIMAGE_DEBOOTSTRAP_TREE, else what benchmarks/debootstrap-fixture.sh prints.
# Environment: RUNS (default 5), SIZE (bytes; default: 1.3 × the tree's bytes + 64 MiB, MiB-aligned),
# TMPDIR (where the images go).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tree="${1:-${DISKIMAGE_DEBOOTSTRAP_TREE:-}}"
[ -n "$tree" ] || tree="$("$here/debootstrap-fixture.sh")"
runs="${RUNS:-5}"
out="$(mktemp -d)"; trap 'rm -rf "$out"' EXIT
dotnet build -c Release "$here/Ext4BuildDriver" -v q -nologo >/dev/null
driver="$here/Ext4BuildDriver/bin/Release/net10.0/Ext4BuildDriver"
files=$(find "$tree" | wc -l); bytes=$(du -sb "$tree" | cut -f1)
size="${SIZE:-$(( (bytes * 13 / 10 + (64 << 20)) >> 20 << 20 ))}"
echo "tree: $tree ($files entries, $((bytes >> 20)) MiB); image $((size >> 20)) MiB; $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg); $(mke2fs -V 2>&1 | head -1)"
# Warm the page cache so that both sides read from memory.
find "$tree" -type f -print0 | xargs -0 cat > /dev/null 2>&1 || true
t() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; }
best_ours=; best_mke2fs=
for i in $(seq "$runs"); do
  rm -f "$out/ours.img" "$out/mke2fs.img"
  o=$(t "$driver" "$tree" "$out/ours.img" "$size")
  m=$(t mke2fs -q -F -t ext4 -d "$tree" "$out/mke2fs.img" "$((size >> 10))k")
  printf 'run %d: ours %6.3f s, mke2fs %6.3f s\n' "$i" "$o" "$m"
  if [ -z "$best_ours" ] || [ "$(echo "$o < $best_ours" | bc)" = 1 ]; then best_ours=$o; fi
  if [ -z "$best_mke2fs" ] || [ "$(echo "$m < $best_mke2fs" | bc)" = 1 ]; then best_mke2fs=$m; fi
done
printf 'best: ours %.3f s, mke2fs %.3f s, ratio ours/mke2fs %.2f\n' "$best_ours" "$best_mke2fs" "$(echo "$best_ours / $best_mke2fs" | bc -l)"
printf 'allocated: ours %d KiB, mke2fs %d KiB\n' "$(du -k "$out/ours.img" | cut -f1)" "$(du -k "$out/mke2fs.img" | cut -f1)"
e2fsck -fn "$out/ours.img" >"$out/fsck.txt" 2>&1 && echo "e2fsck -fn ours: clean" || { cat "$out/fsck.txt"; echo "e2fsck -fn ours: FAILED"; exit 1; }
