#!/usr/bin/env bash
# Builds an XFS image from the same real tree with DiskImage (XfsFileSystem.Build, through the small XfsBuildDriver)
# and with `mkfs.xfs -p protofile` (the protofile made by xfs-protofile.py), at the same size, alternating RUNS
# times in one run; prints every run's wall and CPU (user+sys) time, the best wall time of each (whole processes,
# start-up included; protofile generation is not timed) and the ratio ours/mkfs.xfs, then checks our image with
# `xfs_repair -n`.
# Ours runs as the CLI ships: the driver is published native AOT when the toolchain allows it (cached in
# benchmarks/.cache/xfs-build-driver), else built framework-dependent (JIT); AOT=0 forces the JIT build.
# Tree: $1, else $DISKIMAGE_DEBOOTSTRAP_TREE, else what benchmarks/debootstrap-fixture.sh prints.
# Environment: RUNS (default 5), SIZE (bytes; default: 1.3 × the tree's bytes + 64 MiB, MiB-aligned, at least
# 300 MiB because mkfs.xfs refuses less), TMPDIR (where the images go), AOT (1 default, 0: JIT), BENCH_NICE (1 default:
# as root, both tools under `nice -n -20`, each run in a session whose scheduler autogroup is raised to -20 too; 0: off).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tree="${1:-${DISKIMAGE_DEBOOTSTRAP_TREE:-}}"
[ -n "$tree" ] || tree="$("$here/debootstrap-fixture.sh")"
runs="${RUNS:-5}"
cache="$here/.cache"; mkdir -p "$cache"
out="$(mktemp -d)"; trap 'rm -rf "$out"' EXIT

aot_dir="$cache/xfs-build-driver"
if [ "${AOT:-1}" = 1 ] &&
   dotnet publish "$here/XfsBuildDriver" -c Release -p:PublishAot=true -o "$aot_dir" -v q -nologo >"$cache/xfs-build-driver.log" 2>&1 &&
   [ -x "$aot_dir/XfsBuildDriver" ] && [ ! -e "$aot_dir/XfsBuildDriver.dll" ]; then
  driver="$aot_dir/XfsBuildDriver"; kind="native AOT"
else
  dotnet build -c Release "$here/XfsBuildDriver" -v q -nologo >/dev/null
  driver="$here/XfsBuildDriver/bin/Release/net10.0/XfsBuildDriver"; kind="framework-dependent (JIT)"
fi

prio=(); prio_note="normal priority"
if [ "$(id -u)" = 0 ] && [ "${BENCH_NICE:-1}" = 1 ]; then
  prio=(nice -n -20); prio_note="both under nice -n -20"
  if [ -w /proc/self/autogroup ] && command -v setsid >/dev/null 2>&1; then
    # shellcheck disable=SC2016 # expanded by the inner shell
    prio=(setsid -w sh -c 'echo -20 >/proc/self/autogroup 2>/dev/null; exec nice -n -20 "$@"' timed)
    prio_note="both under nice -n -20 in an autogroup of their own at -20"
  fi
fi

files=$(find "$tree" | wc -l); bytes=$(du -sb "$tree" | cut -f1)
size="${SIZE:-$(( (bytes * 13 / 10 + (64 << 20)) >> 20 << 20 ))}"
[ "$size" -ge $((300 << 20)) ] || size=$((300 << 20))
python3 "$here/xfs-protofile.py" "$tree" > "$out/proto.txt"
echo "tree: $tree ($files entries, $((bytes >> 20)) MiB); image $((size >> 20)) MiB; $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg); $(mkfs.xfs -V 2>&1 | head -1); ours: $kind; $prio_note"
# Warm the page cache so that both sides read from memory.
find "$tree" -type f -print0 | xargs -0 cat > /dev/null 2>&1 || true
# t CMD...: prints "wall cpu" in seconds (cpu = user + sys of the whole process tree).
t() {
  local s e
  s=$(date +%s.%N)
  /usr/bin/time -f '%U %S' -o "$out/time.txt" "${prio[@]}" "$@" >/dev/null 2>&1
  e=$(date +%s.%N)
  echo "$(echo "$e - $s" | bc) $(tail -1 "$out/time.txt" | awk '{ print $1 + $2 }')"
}
best_ours=; best_mkfs=; cpu_ours=; cpu_mkfs=
for i in $(seq "$runs"); do
  rm -f "$out/ours.img" "$out/mkfs.img"
  read -r o oc < <(t "$driver" "$tree" "$out/ours.img" "$size")
  truncate -s "$size" "$out/mkfs.img"
  read -r m mc < <(t mkfs.xfs -q -f -p "$out/proto.txt" "$out/mkfs.img")
  printf 'run %d: ours %6.3f s (CPU %5.2f s), mkfs.xfs %6.3f s (CPU %5.2f s); load %s\n' "$i" "$o" "$oc" "$m" "$mc" "$(cut -d' ' -f1 /proc/loadavg)"
  if [ -z "$best_ours" ] || [ "$(echo "$o < $best_ours" | bc)" = 1 ]; then best_ours=$o; fi
  if [ -z "$best_mkfs" ] || [ "$(echo "$m < $best_mkfs" | bc)" = 1 ]; then best_mkfs=$m; fi
  if [ -z "$cpu_ours" ] || [ "$(echo "$oc < $cpu_ours" | bc)" = 1 ]; then cpu_ours=$oc; fi
  if [ -z "$cpu_mkfs" ] || [ "$(echo "$mc < $cpu_mkfs" | bc)" = 1 ]; then cpu_mkfs=$mc; fi
done
printf 'best: ours %.3f s, mkfs.xfs %.3f s, ratio ours/mkfs.xfs %.2f\n' "$best_ours" "$best_mkfs" "$(echo "$best_ours / $best_mkfs" | bc -l)"
printf 'least CPU: ours %.2f s, mkfs.xfs %.2f s, ratio %.2f\n' "$cpu_ours" "$cpu_mkfs" "$(echo "$cpu_ours / $cpu_mkfs" | bc -l)"
printf 'allocated: ours %d KiB, mkfs.xfs %d KiB\n' "$(du -k "$out/ours.img" | cut -f1)" "$(du -k "$out/mkfs.img" | cut -f1)"
xfs_repair -n -f "$out/ours.img" >"$out/repair.txt" 2>&1 && echo "xfs_repair -n ours: clean" || { cat "$out/repair.txt"; echo "xfs_repair -n ours: FAILED"; exit 1; }
