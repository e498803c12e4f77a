#!/usr/bin/env bash
# Times the diskimage CLI against `qemu-img convert` on the same files, in one run.
#
# Input: an ext4 image of a real directory tree (a Debian minbase root made by debootstrap, then
# `mkfs.ext4 -d`), built once and cached under benchmarks/.cache/. Building it needs root and the
# Debian mirror this machine's apt already uses (read from /etc/apt/sources.list*).
#
# Cases: raw->qcow2, qcow2(zlib)->raw, raw->qcow2 -c (zstd), raw->qcow2 -c (zlib). Each tool runs
# RUNS times per case, alternating; the best wall time and the peak RSS are reported, then every
# output of ours is judged by `qemu-img compare` (and `qemu-img check` for qcow2).
#
# Environment: RUNS (default 3), IMAGE_SIZE (ext4 size, default 2G), SUITE (default: this
# machine's Debian codename), DEBIAN_MIRROR (default: from apt's sources), DISKIMAGE (a prebuilt
# diskimage executable; default: publish src/DiskImage.Cli, native AOT when possible), BENCH_NICE
# (1, default: as root, run both tools under `nice -n -20`, each run in its own session whose
# scheduler autogroup is raised to -20 too; 0: normal priority).
# Usage: benchmarks/compare-qemu-img.sh [--prepare-only]
#
# Scale mode: benchmarks/compare-qemu-img.sh --scale [--scale-gib N]
#   Input: a sparse raw image of 20 GiB holding 6 GiB of data in 96 runs of 64 MiB spread over it,
#   every other run random (incompressible), the others a repeating text pattern; --scale-gib N
#   scales the data to N GiB (N*16 runs, virtual size N*20/6 GiB). Cases: raw->qcow2 and
#   qcow2->raw, each with a new target and over an existing one (the previous run's output), then
#   raw->qcow2 -c zlib and -c zstd. RUNS (default 3) alternating runs per tool; reported: the median
#   wall time and CPU (user+sys), the peak RSS (/usr/bin/time -v), and, when strace is installed,
#   syscall counts of one extra run per tool (strace -c -f: total, pwrite64, ftruncate, futex).
#   Every output of both tools is judged by `qemu-img compare` against the input and, for qcow2,
#   `qemu-img check`. Inputs and outputs live under SCALE_DIR (default benchmarks/.cache/scale)
#   and are deleted at the end; the full size needs about 30 GB free.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cache="$here/.cache"
RUNS=${RUNS:-3}
IMAGE_SIZE=${IMAGE_SIZE:-2G}
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DEBIAN_FRONTEND=noninteractive

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

apt_updated=""
need() { # need COMMAND PACKAGE: installs PACKAGE when COMMAND is missing
  if ! command -v "$1" >/dev/null 2>&1 && [ ! -x "$1" ]; then
    if [ -z "$apt_updated" ]; then $SUDO apt-get update -qq; apt_updated=1; fi
    $SUDO apt-get install -y -qq --no-install-recommends "$2" >/dev/null
  fi
}

if [ -z "${SUITE:-}" ]; then
  SUITE=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  [ -n "$SUITE" ] || die "cannot tell this machine's Debian codename; set SUITE"
fi

image="$cache/debian-$SUITE-minbase.ext4.raw"
qcow2_zlib="$cache/debian-$SUITE-minbase.zlib.qcow2"

prepare_image() {
  mkdir -p "$cache"
  need qemu-img qemu-utils
  need mkfs.ext4 e2fsprogs
  if [ ! -f "$image" ]; then
    local root
    root=$("$here/debootstrap-fixture.sh")
    rm -f "$image.tmp"
    log "mkfs.ext4 -d rootfs ($IMAGE_SIZE)"
    mkfs.ext4 -q -F -L rootfs -d "$root" "$image.tmp" "$IMAGE_SIZE"
    mv "$image.tmp" "$image"
  fi
  if [ ! -f "$qcow2_zlib" ]; then
    log "qemu-img convert -c (zlib) for the qcow2->raw case"
    qemu-img convert -f raw -O qcow2 -c "$image" "$qcow2_zlib.tmp"
    mv "$qcow2_zlib.tmp" "$qcow2_zlib"
  fi
}

mode=default
scale_gib=6
while [ $# -gt 0 ]; do
  case "$1" in
    --prepare-only) mode=prepare ;;
    --scale) mode=scale ;;
    --scale-gib) mode=scale; scale_gib=${2:?--scale-gib needs a number}; shift ;;
    *) die "unknown argument: $1" ;;
  esac
  shift
done
[[ "$scale_gib" =~ ^[1-9][0-9]*$ ]] || die "--scale-gib takes a whole number of GiB"

if [ "$mode" != scale ]; then
  prepare_image
  if [ "$mode" = prepare ]; then
    ls -ls "$image" "$qcow2_zlib"
    exit 0
  fi
fi

need /usr/bin/time time

# Our CLI: native AOT when the toolchain allows it, else framework-dependent.
publish_cli() {
  if [ -n "${DISKIMAGE:-}" ]; then DI=$DISKIMAGE; DI_KIND="given by DISKIMAGE"; return; fi
  local out="$cache/cli-aot"
  log "dotnet publish src/DiskImage.Cli (native AOT)"
  rm -rf "$out"
  if dotnet publish "$repo/src/DiskImage.Cli/DiskImage.Cli.csproj" -c Release -o "$out" >"$cache/publish.log" 2>&1 &&
     [ -x "$out/diskimage" ] && file_is_native "$out/diskimage"; then
    DI="$out/diskimage"; DI_KIND="native AOT"; return
  fi
  log "native AOT publish failed (see $cache/publish.log); publishing framework-dependent"
  out="$cache/cli-jit"
  rm -rf "$out"
  dotnet publish "$repo/src/DiskImage.Cli/DiskImage.Cli.csproj" -c Release -p:PublishAot=false -o "$out" >"$cache/publish.log" 2>&1 ||
    die "dotnet publish failed; see $cache/publish.log"
  DI="$out/DiskImage.Cli"; DI_KIND="framework-dependent (JIT)"
}
file_is_native() { head -c 4 "$1" | grep -q 'ELF'; }

publish_cli
# On a shared machine, both tools run at the highest CPU priority (when root) so that other load
# disturbs the comparison less; BENCH_NICE=0 turns that off.
# With autogroup scheduling (kernel.sched_autogroup_enabled=1) nice only ranks threads within one
# session's group, while groups share the CPUs equally; so each timed run also gets a session of
# its own whose group is raised to the same priority.
prio=()
prio_note=""
if [ "$(id -u)" = 0 ] && [ "${BENCH_NICE:-1}" = 1 ]; then
  prio=(nice -n -20); prio_note="both under nice -n -20"
  if [ -w /proc/self/autogroup ] && command -v setsid >/dev/null 2>&1; then
    # shellcheck disable=SC2016 # expanded by the inner shell
    prio=(setsid -w sh -c 'echo -20 >/proc/self/autogroup 2>/dev/null; exec nice -n -20 "$@"' timed)
    prio_note="both under nice -n -20 in an autogroup of their own at -20"
  fi
fi
if [ "$mode" = scale ]; then
  # shellcheck source=compare-qemu-img-scale.inc.sh
  . "$here/compare-qemu-img-scale.inc.sh"
  run_scale
  exit $?
fi

scratch="$cache/out"
rm -rf "$scratch"; mkdir -p "$scratch"
trap 'rm -rf "$scratch"' EXIT

# timed NAME CMD...: runs CMD, appends "wall_ms cpu_ms rss_kib" to $scratch/NAME.times
timed() {
  local name=$1; shift
  local t0 t1
  t0=$(date +%s%N)
  if ! /usr/bin/time -f '%U %S %M' -o "$scratch/rss" "${prio[@]}" "$@" >"$scratch/cmd.log" 2>&1; then
    cat "$scratch/cmd.log" >&2
    die "failed: $*"
  fi
  t1=$(date +%s%N)
  tail -1 "$scratch/rss" | awk -v wall=$(( (t1 - t0) / 1000000 )) '{ printf "%d %d %d\n", wall, ($1 + $2) * 1000, $3 }' >>"$scratch/$name.times"
}
# The best run by wall time: "wall_ms cpu_ms"; and the peak RSS over all runs.
best_run() { sort -n "$1" | head -1 | cut -d' ' -f1,2; }
peak_kib() { sort -n -k3 "$1" | tail -1 | cut -d' ' -f3; }

declare -a cases=(
  "raw->qcow2|0.8|-f raw -O qcow2|$image|qcow2"
  "qcow2(zlib)->raw|0.8|-f qcow2 -O raw|$qcow2_zlib|raw"
  "raw->qcow2 -c zstd|0.5|-f raw -O qcow2 -c -o compression_type=zstd|$image|qcow2"
  "raw->qcow2 -c zlib|0.5|-f raw -O qcow2 -c|$image|qcow2"
)

data_mib=$(( $(du -k "$image" | cut -f1) / 1024 ))
log "input: $(basename "$image"): $(( $(stat -c %s "$image") / 1048576 )) MiB virtual, $data_mib MiB allocated; $RUNS runs each"
log "ours: $DI ($DI_KIND); qemu-img: $(qemu-img --version | head -1)"
sync

results=()
failures=0
for i in "${!cases[@]}"; do
  IFS='|' read -r label target flags input ext <<<"${cases[$i]}"
  read -r -a args <<<"$flags"
  ours_out="$scratch/ours-$i.$ext"; qemu_out="$scratch/qemu-$i.$ext"
  rm -f "$scratch/ours-$i.times" "$scratch/qemu-$i.times"
  for ((r = 1; r <= RUNS; r++)); do
    rm -f "$ours_out" "$qemu_out"
    timed "qemu-$i" qemu-img convert "${args[@]}" "$input" "$qemu_out"
    timed "ours-$i" "$DI" convert "${args[@]}" "$input" "$ours_out"
  done
  # Judge our output with the real tool.
  in_fmt=${args[1]}; out_fmt=${args[3]}
  verdict="identical"
  if ! qemu-img compare -q -f "$in_fmt" -F "$out_fmt" "$input" "$ours_out" >/dev/null 2>&1; then
    verdict="DIFFERS"; failures=$((failures + 1))
  fi
  if [ "$out_fmt" = qcow2 ] && ! qemu-img check -q "$ours_out" >/dev/null 2>&1; then
    verdict="$verdict, CHECK FAILED"; failures=$((failures + 1))
  fi
  read -r q qc < <(best_run "$scratch/qemu-$i.times"); read -r o oc < <(best_run "$scratch/ours-$i.times")
  qr=$(peak_kib "$scratch/qemu-$i.times"); orss=$(peak_kib "$scratch/ours-$i.times")
  qs=$(du -k "$qemu_out" | cut -f1); os=$(du -k "$ours_out" | cut -f1)
  results+=("$label|$q|$o|$target|$qc|$oc|$qr|$orss|$qs|$os|$verdict")
  rm -f "$ours_out" "$qemu_out"
done

sec() { awk -v v="$1" 'BEGIN { printf "%.2f", v / 1000 }'; }
printf '\n%-18s %8s %8s %6s %6s %4s | %8s %8s | %8s %8s | %8s %8s | %s\n' \
  case "qemu-img" ours ratio target "" "qemu CPU" "ours CPU" "qemu RSS" "ours RSS" "qemu out" "ours out" "judged by qemu-img"
for row in "${results[@]}"; do
  IFS='|' read -r label q o target qc oc qr orss qs os verdict <<<"$row"
  ratio=$(awk -v o="$o" -v q="$q" 'BEGIN { printf "%.2f", (q > 0 ? o / q : 0) }')
  ok=$(awk -v r="$ratio" -v t="$target" 'BEGIN { print (r <= t ? "ok" : "MISS") }')
  [ "$orss" -le $((256 * 1024)) ] || verdict="$verdict; RSS over 256 MiB"
  printf '%-18s %6s s %6s s %6s %6s %4s | %6s s %6s s | %4d MiB %4d MiB | %4d MiB %4d MiB | %s\n' \
    "$label" "$(sec "$q")" "$(sec "$o")" "$ratio" "<=$target" "$ok" "$(sec "$qc")" "$(sec "$oc")" \
    $((qr / 1024)) $((orss / 1024)) $((qs / 1024)) $((os / 1024)) "$verdict"
done
echo
echo "wall: best of $RUNS runs (page cache warm, tools alternating${prio_note:+, $prio_note}); CPU: user+sys of that run; RSS: peak over all runs; $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "ratio = ours/qemu-img wall time; out = allocated size of the output file"
if [ "$failures" -gt 0 ]; then die "$failures output(s) failed qemu-img's judgement"; fi
