#!/usr/bin/env bash
# Builds an ext4 image from the same real tree with DiskImage (Ext4FileSystem.Build, through the small
# Ext4BuildDriver) and with `mke2fs -t ext4 -d`, at the same size, alternating RUNS times in one run; prints
# the best wall time of each (whole processes, start-up included) and the ratio ours/mke2fs, then checks our
# image with `e2fsck -fn`.
# Tree: $1, else $DISKIMAGE_DEBOOTSTRAP_TREE, else what benchmarks/debootstrap-fixture.sh prints.
# Environment: RUNS (default 5), SIZE (bytes; default: 1.3 × the tree's bytes + 64 MiB, MiB-aligned),
# TMPDIR (where the images go).
#
# Scale mode: benchmarks/compare-mke2fs.sh --scale [--scale-gib N] [base-tree]
#   Tree (built once, deterministic, kept under benchmarks/.cache/ext4-scale-tree-Ng/): the base tree (as
#   above) three times (at the root and under srv/chroots/a, b), then benchmarks/ext4-scale-tree.py adds
#   30,000 small files in one directory, 64-level deep directories, 2,000 symlinks, sparse files, 256 MiB
#   files and mid-size files (16 KiB-8 MiB, some hard-linked) of seeded random data until the tree holds
#   N GiB (default 3) of file data. Times the CLI `diskimage make-fs -t ext4 -s SIZE tree img` (published
#   native AOT when possible, or $DISKIMAGE) against `mke2fs -q -F -t ext4 -d tree img SIZE`, new image
#   files of the same size (SIZE default: 1.2 x the tree's allocated bytes + 256 MiB), RUNS (default 3)
#   alternating runs, sync before each; reports the median wall and CPU time, peak RSS, the ratio
#   ours/mke2fs (target <= 0.7) and e2fsck -fn of both images of the last run; SYSCALLS=1 adds syscall
#   counts of one more run of ours under strace -c -f (SYSCALLS=both: of mke2fs too, which is very slow). Images are deleted after every run (about 1.3 x N GiB of scratch besides the tree).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
log() { printf '== %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
scale=; scale_gib=3
while [ $# -gt 0 ]; do
  case "$1" in
    --scale) scale=1 ;;
    --scale-gib) scale=1; scale_gib=${2:?--scale-gib needs a number}; shift ;;
    --*) die "unknown option: $1" ;;
    *) break ;;
  esac
  shift
done
[[ "$scale_gib" =~ ^[1-9][0-9]*$ ]] || die "--scale-gib takes a whole number of GiB"
tree="${1:-${DISKIMAGE_DEBOOTSTRAP_TREE:-}}"
[ -n "$tree" ] || tree="$("$here/debootstrap-fixture.sh")"
if [ -n "$scale" ]; then
  runs="${RUNS:-3}"
  # shellcheck source=compare-mke2fs-scale.inc.sh
  . "$here/compare-mke2fs-scale.inc.sh"
  run_scale "$tree" "$scale_gib"
  exit $?
fi
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
