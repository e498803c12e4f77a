#!/usr/bin/env bash
# Builds an XFS image from the same real tree with DiskImage (XfsFileSystem.Build, through the small XfsBuildDriver)
# and with `mkfs.xfs -p protofile` (the protofile made by xfs-protofile.py), at the same size, alternating RUNS
# times in one run; prints the best wall time of each (whole processes, start-up included; protofile generation
# is not timed) and the ratio ours/mkfs.xfs, then checks our image with `xfs_repair -n`.
# Tree: $1, else $DISKIMAGE_DEBOOTSTRAP_TREE, else what benchmarks/debootstrap-fixture.sh prints.
# Environment: RUNS (default 5), SIZE (bytes; default: 1.3 × the tree's bytes + 64 MiB, MiB-aligned, at least
# 300 MiB because mkfs.xfs refuses less), TMPDIR (where the images go).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tree="${1:-${DISKIMAGE_DEBOOTSTRAP_TREE:-}}"
[ -n "$tree" ] || tree="$("$here/debootstrap-fixture.sh")"
runs="${RUNS:-5}"
out="$(mktemp -d)"; trap 'rm -rf "$out"' EXIT
dotnet build -c Release "$here/XfsBuildDriver" -v q -nologo >/dev/null
driver="$here/XfsBuildDriver/bin/Release/net10.0/XfsBuildDriver"
files=$(find "$tree" | wc -l); bytes=$(du -sb "$tree" | cut -f1)
size="${SIZE:-$(( (bytes * 13 / 10 + (64 << 20)) >> 20 << 20 ))}"
[ "$size" -ge $((300 << 20)) ] || size=$((300 << 20))
python3 "$here/xfs-protofile.py" "$tree" > "$out/proto.txt"
echo "tree: $tree ($files entries, $((bytes >> 20)) MiB); image $((size >> 20)) MiB; $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg); $(mkfs.xfs -V 2>&1 | head -1)"
# Warm the page cache so that both sides read from memory.
find "$tree" -type f -print0 | xargs -0 cat > /dev/null 2>&1 || true
t() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; }
best_ours=; best_mkfs=
for i in $(seq "$runs"); do
  rm -f "$out/ours.img" "$out/mkfs.img"
  o=$(t "$driver" "$tree" "$out/ours.img" "$size")
  truncate -s "$size" "$out/mkfs.img"
  m=$(t mkfs.xfs -q -f -p "$out/proto.txt" "$out/mkfs.img")
  printf 'run %d: ours %6.3f s, mkfs.xfs %6.3f s\n' "$i" "$o" "$m"
  if [ -z "$best_ours" ] || [ "$(echo "$o < $best_ours" | bc)" = 1 ]; then best_ours=$o; fi
  if [ -z "$best_mkfs" ] || [ "$(echo "$m < $best_mkfs" | bc)" = 1 ]; then best_mkfs=$m; fi
done
printf 'best: ours %.3f s, mkfs.xfs %.3f s, ratio ours/mkfs.xfs %.2f\n' "$best_ours" "$best_mkfs" "$(echo "$best_ours / $best_mkfs" | bc -l)"
printf 'allocated: ours %d KiB, mkfs.xfs %d KiB\n' "$(du -k "$out/ours.img" | cut -f1)" "$(du -k "$out/mkfs.img" | cut -f1)"
xfs_repair -n -f "$out/ours.img" >"$out/repair.txt" 2>&1 && echo "xfs_repair -n ours: clean" || { cat "$out/repair.txt"; echo "xfs_repair -n ours: FAILED"; exit 1; }
