#!/usr/bin/env bash
# Times `diskimage sysprep` and `diskimage customize` against `virt-sysprep` and `virt-customize`
# (libguestfs, LIBGUESTFS_BACKEND=direct) on the same qcow2 guest, in one run.
#
# Guest: a bare ext4 file system in a qcow2 image, built by our own CLI (`diskimage make-fs --format
# qcow2`) from a Debian minbase tree made by debootstrap. Both tools get a fresh copy of it per run.
#   sysprep:   the operations that both tools have among virt-sysprep's defaults (read from both
#              `--list-operations`), without the ones that are not file operations (customize, script,
#              lvm-uuids), given to both as `--operations`.
#   customize: the same nine options to both: --hostname, --root-password, --ssh-inject, --write,
#              --mkdir, --chmod, --append-line, --timezone, --firstboot-command.
# Memory flat in image size: ours runs again on a second guest with a 1 GiB file of random data and
# 8 GiB more virtual size; the peak RSS of both guests is printed.
# Our outputs are judged by `qemu-img check` and `e2fsck -fn`.
#
# Tree: $1, else $DISKIMAGE_DEBOOTSTRAP_TREE, else what benchmarks/debootstrap-fixture.sh prints.
# Environment: RUNS (ours, default 3), VIRT_RUNS (libguestfs, default 1: an appliance boot takes
# minutes without KVM), DISKIMAGE (a prebuilt diskimage executable; default: publish
# src/DiskImage.Cli, native AOT when possible), TMPDIR (where the images go; several GiB free).
# Usage: benchmarks/compare-virt.sh [tree]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cache="$here/.cache"
RUNS=${RUNS:-3}
VIRT_RUNS=${VIRT_RUNS:-1}
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 LIBGUESTFS_BACKEND=direct

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || [ -x "$1" ] || die "$1 is missing (Debian package: $2)"; }

need virt-sysprep libguestfs-tools
need virt-customize libguestfs-tools
need qemu-img qemu-utils
need e2fsck e2fsprogs
need /usr/bin/time time
need ssh-keygen openssh-client
need dotnet dotnet-sdk

tree="${1:-${DISKIMAGE_DEBOOTSTRAP_TREE:-}}"
[ -n "$tree" ] || tree="$("$here/debootstrap-fixture.sh")"
[ -d "$tree/etc" ] || die "$tree is not a root file system tree"

# Our CLI: native AOT when the toolchain allows it, else framework-dependent.
file_is_native() { head -c 4 "$1" | grep -q 'ELF'; }
publish_cli() {
  if [ -n "${DISKIMAGE:-}" ]; then DI=$DISKIMAGE; DI_KIND="given by DISKIMAGE"; return; fi
  mkdir -p "$cache"
  local out="$cache/cli-aot"
  log "dotnet publish src/DiskImage.Cli (native AOT)"
  rm -rf "$out"
  if dotnet publish "$repo/src/DiskImage.Cli/DiskImage.Cli.csproj" -c Release -o "$out" >"$cache/publish-aot.log" 2>&1 &&
     [ -x "$out/diskimage" ] && file_is_native "$out/diskimage"; then
    DI="$out/diskimage"; DI_KIND="native AOT"; return
  fi
  log "native AOT publish failed (see $cache/publish-aot.log); publishing framework-dependent"
  out="$cache/cli-jit"
  rm -rf "$out"
  dotnet publish "$repo/src/DiskImage.Cli/DiskImage.Cli.csproj" -c Release -p:PublishAot=false -o "$out" >"$cache/publish.log" 2>&1 ||
    die "dotnet publish failed; see $cache/publish.log"
  DI="$out/DiskImage.Cli"; DI_KIND="framework-dependent (JIT)"
}
publish_cli
[ -x "$DI" ] || die "$DI is not executable"

scratch=$(mktemp -d "${TMPDIR:-/var/tmp}/compare-virt.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

# timed NAME CMD...: runs CMD, appends "wall_ms rss_kib cpu_ms" to $scratch/NAME.times; a failure stops the run.
# CPU is user+sys of the process and the children it waited for (libguestfs' qemu included).
timed() {
  local name=$1; shift
  local t0 t1
  t0=$(date +%s%N)
  if ! /usr/bin/time -f '%M %U %S' -o "$scratch/rss" "$@" >"$scratch/cmd.log" 2>&1; then
    cat "$scratch/cmd.log" >&2
    die "failed: $*"
  fi
  t1=$(date +%s%N)
  tail -1 "$scratch/rss" | awk -v wall=$(( (t1 - t0) / 1000000 )) '{ printf "%d %d %d\n", wall, $1, ($2 + $3) * 1000 }' >>"$scratch/$name.times"
}
best_ms() { sort -n "$1" | head -1 | cut -d' ' -f1; }
best_cpu_ms() { sort -n -k3 "$1" | head -1 | cut -d' ' -f3; }
peak_kib() { sort -n -k2 "$1" | tail -1 | cut -d' ' -f2; }

# The guests.
small="$scratch/guest.qcow2"; big="$scratch/guest-big.qcow2"
log "building the guests with $DI make-fs"
"$DI" make-fs --format qcow2 --size +256M --label rootfs "$tree" "$small" >/dev/null
mkdir "$scratch/bigtree"
cp -a "$tree/." "$scratch/bigtree/"
head -c 1G /dev/urandom >"$scratch/bigtree/var/big.bin"
"$DI" make-fs --format qcow2 --size +8G --label rootfs "$scratch/bigtree" "$big" >/dev/null
rm -rf "$scratch/bigtree"
describe() { printf '%s: %d MiB virtual, %d MiB allocated' "$(basename "$1")" \
  $(( $(qemu-img info --output=json "$1" | sed -n 's/.*"virtual-size": \([0-9]*\).*/\1/p') >> 20 )) $(( $(du -k "$1" | cut -f1) >> 10 )); }

# The same operations and options for both tools.
defaults() { "$@" --list-operations | awk '$2 == "*" { print $1 }' | sort; }
ops=$(comm -12 <(defaults virt-sysprep) <(defaults "$DI" sysprep) | grep -vx -e customize -e script -e lvm-uuids | paste -sd, -)
[ -n "$ops" ] || die "no common sysprep operations"
ssh-keygen -q -t ed25519 -N '' -C bench@host -f "$scratch/key" >/dev/null
custom=(--hostname bench-guest --root-password password:Bench-123 --ssh-inject "root:file:$scratch/key.pub"
  --write /etc/motd:benchmarked --mkdir /opt/bench --chmod 0700:/opt/bench
  --append-line /etc/hosts:10.0.0.1\ bench --timezone Europe/Paris --firstboot-command 'echo first boot')

log "ours: $DI ($DI_KIND); theirs: $(virt-sysprep --version), $(virt-customize --version); $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg)"
log "guests: $(describe "$small"); $(describe "$big")"
log "sysprep operations: $ops"
log "customize options: ${custom[*]}"
sync

judge() { # judge IMAGE: qemu-img check and e2fsck -fn of our output
  qemu-img check -q "$1" || die "qemu-img check failed on our output"
  qemu-img convert -f qcow2 -O raw "$1" "$scratch/judge.raw"
  e2fsck -fn "$scratch/judge.raw" >"$scratch/fsck.log" 2>&1 || { cat "$scratch/fsck.log" >&2; die "e2fsck -fn failed on our output"; }
  rm -f "$scratch/judge.raw"
}

work="$scratch/work.qcow2"
for ((r = 1; r <= RUNS; r++)); do
  cp "$small" "$work"; timed ours-sysprep "$DI" sysprep -q -a "$work" --operations "$ops"
  [ "$r" -gt 1 ] || judge "$work"
  cp "$small" "$work"; timed ours-customize "$DI" customize -q -a "$work" "${custom[@]}"
  [ "$r" -gt 1 ] || judge "$work"
  cp "$big" "$work"; timed big-sysprep "$DI" sysprep -q -a "$work" --operations "$ops"
  cp "$big" "$work"; timed big-customize "$DI" customize -q -a "$work" "${custom[@]}"
done
for ((r = 1; r <= VIRT_RUNS; r++)); do
  log "virt-sysprep run $r"
  cp "$small" "$work"; timed virt-sysprep virt-sysprep -q -a "$work" --operations "$ops"
  log "virt-customize run $r"
  cp "$small" "$work"; timed virt-customize virt-customize -q -a "$work" "${custom[@]}"
done
rm -f "$work"

sec() { awk -v v="$1" 'BEGIN { printf "%.3f", v / 1000 }'; }
printf '\n%-10s %10s %10s %8s %12s | %10s %10s %8s | %9s %9s | %s\n' case theirs ours ratio target "their CPU" "our CPU" "CPU ratio" "their RSS" "our RSS" "our RSS, big guest"
miss=0
for c in sysprep customize; do
  t=$(best_ms "$scratch/virt-$c.times"); o=$(best_ms "$scratch/ours-$c.times")
  ratio=$(awk -v o="$o" -v t="$t" 'BEGIN { printf "%.4f", o / t }')
  ok=$(awk -v r="$ratio" 'BEGIN { print (r <= 0.01 ? "ok" : "MISS") }')
  [ "$ok" = ok ] || miss=$((miss + 1))
  tc=$(best_cpu_ms "$scratch/virt-$c.times"); oc=$(best_cpu_ms "$scratch/ours-$c.times")
  cratio=$(awk -v o="$oc" -v t="$tc" 'BEGIN { printf "%.4f", (t > 0 ? o / t : 0) }')
  printf '%-10s %8s s %8s s %8s %12s | %8s s %8s s %8s | %5d MiB %5d MiB | %d MiB (%s s)\n' "$c" "$(sec "$t")" "$(sec "$o")" "$ratio" "<=0.01 $ok" \
    "$(sec "$tc")" "$(sec "$oc")" "$cratio" \
    $(( $(peak_kib "$scratch/virt-$c.times") >> 10 )) $(( $(peak_kib "$scratch/ours-$c.times") >> 10 )) \
    $(( $(peak_kib "$scratch/big-$c.times") >> 10 )) "$(sec "$(best_ms "$scratch/big-$c.times")")"
done
echo
echo "wall: best of $RUNS runs (ours) and $VIRT_RUNS (libguestfs, backend direct, $( [ -e /dev/kvm ] && echo KVM || echo 'no KVM: TCG')); ratio = ours/theirs wall time"
echo "CPU: the lowest user+sys over the runs (theirs includes the appliance's qemu); RSS: peak over the runs (/usr/bin/time %M)"
echo "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "our outputs: qemu-img check and e2fsck -fn clean"
[ "$miss" -eq 0 ] || echo "target missed in $miss case(s)"
