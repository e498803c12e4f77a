#!/usr/bin/env bash
# Times `diskimage overcloud build --all` against the same image set made by a composition of the real tools,
# on the same base guest, in one run (alternating, RUNS of each, median wall time; peak RSS).
#
# Base guest (built once, not timed): the debootstrap minbase tree with the host's kernel and initrd in /boot,
# the host's /lib/modules/VERSION (the whole tree), and ip, sfdisk, qemu-img and python3 copied from the host with
# their shared libraries (so the default recipe's ramdisk binaries exist), written by `diskimage make-fs -t xfs`
# into a partition of an MBR disk (sfdisk), qcow2.
# Recipe: the embedded default (`--print-default-recipe`) with four customize options added (hostname, write,
# mkdir, append-line), so every step of the pipeline has work: customize, sysprep, the overcloud-full partition
# image (XFS img-rootfs, compressed qcow2, kernel and initrd) and two gzip ramdisks with a kernel each.
#
# Theirs, the same steps, one process tree timed as a whole (LIBGUESTFS_BACKEND=direct; TCG without /dev/kvm):
#   qemu-img create -b base (an overlay: the base is not changed, as ours)
#   virt-customize --hostname --write --mkdir --append-line
#   virt-sysprep --operations defaults (it has no random-seed operation: its customize step refreshes the seed)
#   virt-get-kernel (the kernel and initrd)
#   virt-tar-out / | tar -x (the tree; fstab's root line rewritten to LABEL=img-rootfs by sed)
#   mkfs.xfs -L img-rootfs on a file sized tree + 20 %, loop mount, tar copy, umount (as diskimage-builder does)
#   qemu-img convert -c -O qcow2
#   per ramdisk: the binaries with their libraries (ldd in a chroot of the tree), the modules with their
#   dependencies (modprobe -d TREE --show-depends), depmod, the same /init; find | cpio -o -H newc | gzip
# Ours: `diskimage overcloud build --all --base BASE --recipe RECIPE -o DIR` (a fresh DIR per run).
# Our outputs are judged: qemu-img check, xfs_repair -n and blkid on the partition image, its /etc/hostname,
# gzip -t and cpio -t on the ramdisks, the base's SHA-256 unchanged.
#
# Tree: $1, else $DISKIMAGE_DEBOOTSTRAP_TREE, else what benchmarks/debootstrap-fixture.sh prints.
# Environment: RUNS (runs of each side, default 2), DISKIMAGE (a prebuilt diskimage executable; default: publish
# src/DiskImage.Cli, native AOT when possible), BASE (a base guest to use instead of building one; the kernel
# version is read from its /boot), TMPDIR (scratch; several GiB free), KEEP=1 keeps the scratch directory.
# Needs root (chroot, loop mount). Usage: benchmarks/compare-pipeline.sh [tree]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cache="$here/.cache"
RUNS=${RUNS:-2}
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 LIBGUESTFS_BACKEND=direct

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || [ -x "$1" ] || die "$1 is missing (Debian package: $2)"; }

for t in virt-customize virt-sysprep virt-get-kernel virt-tar-out; do need $t libguestfs-tools; done
need qemu-img qemu-utils
need mkfs.xfs xfsprogs
need xfs_repair xfsprogs
need sfdisk fdisk
need cpio cpio
need modprobe kmod
need depmod kmod
need /usr/bin/time time
need dotnet dotnet-sdk
[ "$(id -u)" = 0 ] || die "run as root (chroot and a loop mount on their side)"

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

scratch=$(mktemp -d "${TMPDIR:-/var/tmp}/compare-pipeline.XXXXXX")
mnt="$scratch/mnt"
cleanup() {
  mountpoint -q "$mnt" 2>/dev/null && umount "$mnt"
  [ "${KEEP:-0}" = 1 ] && { log "kept $scratch"; return; }
  rm -rf "$scratch"
}
trap cleanup EXIT

# ---- the base guest -------------------------------------------------------------------------------------------
kver=$(ls /boot | sed -n 's/^vmlinuz-//p' | sort -V | tail -1)
if [ -n "${BASE:-}" ]; then
  base=$(realpath "$BASE")
  kver=$("$DI" ls "$base" /boot | sed -n 's/^vmlinuz-//p' | sort -V | tail -1)
  [ -n "$kver" ] || die "$base has no /boot/vmlinuz-*"
else
  tree="${1:-${DISKIMAGE_DEBOOTSTRAP_TREE:-}}"
  [ -n "$tree" ] || tree="$("$here/debootstrap-fixture.sh")"
  [ -d "$tree/etc" ] || die "$tree is not a root file system tree"
  [ -n "$kver" ] && [ -f "/boot/initrd.img-$kver" ] && [ -d "/lib/modules/$kver" ] ||
    die "the host's kernel $kver, its initrd and modules are needed (Debian package: linux-image-amd64, initramfs-tools)"
  log "staging the base guest's tree ($tree + kernel $kver, its modules, ip, sfdisk, qemu-img, python3)"
  stage="$scratch/stage"
  cp -a "$tree/." "$stage/"
  cp "/boot/vmlinuz-$kver" "/boot/initrd.img-$kver" "$stage/boot/"
  mkdir -p "$stage/usr/lib/modules"
  cp -a "/lib/modules/$kver" "$stage/usr/lib/modules/"
  for b in ip sfdisk qemu-img python3; do
    p=""
    for d in /usr/sbin /usr/bin; do [ -x "$d/$b" ] && { p=$(realpath "$d/$b"); break; }; done
    [ -n "$p" ] || die "$b is missing on the host (Debian packages: iproute2, fdisk, qemu-utils, python3)"
    mkdir -p "$stage$(dirname "$p")"; cp -L "$p" "$stage$p"
    [ "$(basename "$p")" = "$b" ] || ln -sf "$(basename "$p")" "$stage$(dirname "$p")/$b"
    ldd "$p" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | while read -r lib; do
      dst="$stage/usr/lib/x86_64-linux-gnu/$(basename "$lib")"
      [ -e "$dst" ] || cp -L "$lib" "$dst"
    done
  done
  printf 'LABEL=rootfs / xfs defaults 0 1\n' >"$stage/etc/fstab"
  printf 'base-guest\n' >"$stage/etc/hostname"
  "$DI" make-fs -t xfs -f raw --size +256M --label rootfs "$stage" "$scratch/root.raw" >/dev/null
  rm -rf "$stage"
  fs_bytes=$(stat -c %s "$scratch/root.raw")
  truncate -s $(( (2 << 20) + fs_bytes )) "$scratch/disk.raw"
  printf 'label: dos\nstart=2048, size=%d, type=83, bootable\n' $(( fs_bytes / 512 )) | sfdisk -q "$scratch/disk.raw"
  dd if="$scratch/root.raw" of="$scratch/disk.raw" bs=1M seek=1 conv=notrunc,sparse status=none
  rm -f "$scratch/root.raw"
  base="$scratch/base.qcow2"
  qemu-img convert -f raw -O qcow2 "$scratch/disk.raw" "$base"
  rm -f "$scratch/disk.raw"
fi
base_sha=$(sha256sum "$base" | cut -d' ' -f1)
describe() { printf '%s: %d MiB virtual, %d MiB allocated' "$(basename "$1")" \
  $(( $(qemu-img info --output=json "$1" | sed -n 's/.*"virtual-size": \([0-9]*\).*/\1/p') >> 20 )) $(( $(du -k "$1" | cut -f1) >> 10 )); }

# ---- the recipe: the default with four customize options ------------------------------------------------------
recipe="$scratch/recipe.yaml"
"$DI" overcloud build --print-default-recipe | awk '
  /^customize: \[\]$/ {
    print "customize:"
    print "  - hostname: overcloud"
    print "  - write: \"/etc/motd:built for the pipeline benchmark\""
    print "  - mkdir: /opt/overcloud"
    print "  - append-line: \"/etc/hosts:192.0.2.1 undercloud\""
    next
  }
  { print }' >"$recipe"
grep -q 'hostname: overcloud' "$recipe" || die "the default recipe has changed: its 'customize: []' line is gone"
custom=(--hostname overcloud --write "/etc/motd:built for the pipeline benchmark" --mkdir /opt/overcloud
  --append-line "/etc/hosts:192.0.2.1 undercloud")
# The ramdisks of the default recipe (name, binaries, modules), read from the recipe so both sides agree.
ramdisks=$(awk '
  /^  - name:/ { name = $3 }
  /^      binaries:/ { sub(/.*\[/, ""); sub(/\].*/, ""); gsub(/,/, ""); bins[name] = $0 }
  /^      modules:/ { sub(/.*\[/, ""); sub(/\].*/, ""); gsub(/,/, ""); mods[name] = $0 }
  END { for (n in bins) print n ":" bins[n] ":" mods[n] }' "$recipe" | sort)
[ -n "$ramdisks" ] || die "no ramdisk in the recipe"

# ---- theirs: one script, timed as a whole ---------------------------------------------------------------------
theirs="$scratch/theirs.sh"
cat >"$theirs" <<'EOF'
#!/usr/bin/env bash
# theirs.sh BASE OUT WORK MNT KVER RAMDISKS CUSTOMIZE...
set -euo pipefail
base=$1 out=$2 work=$3 mnt=$4 kver=$5 ramdisks=$6; shift 6
step() { printf '%s %s\n' "$EPOCHREALTIME" "$*" >&2; }
mkdir -p "$out" "$work"
step overlay
qemu-img create -q -f qcow2 -b "$base" -F qcow2 "$work/guest.qcow2"
step virt-customize
virt-customize -q -a "$work/guest.qcow2" "$@"
step virt-sysprep
virt-sysprep -q -a "$work/guest.qcow2" --operations defaults
step virt-get-kernel
mkdir -p "$work/kernel"
virt-get-kernel -q -a "$work/guest.qcow2" -o "$work/kernel"
cp "$work/kernel/vmlinuz-$kver" "$out/overcloud-full.vmlinuz"
cp "$work/kernel/initrd.img-$kver" "$out/overcloud-full.initrd"
step virt-tar-out
tree="$work/tree"; mkdir "$tree"
virt-tar-out -a "$work/guest.qcow2" / - | tar -C "$tree" -xf - --numeric-owner
sed -i -E 's#^[^#[:space:]]+[[:space:]]+/[[:space:]]+[^[:space:]]+#LABEL=img-rootfs / xfs#' "$tree/etc/fstab"
step mkfs.xfs
used=$(du -sb "$tree" | cut -f1)
truncate -s $(( (used * 12 / 10 + (64 << 20)) / 4096 * 4096 )) "$work/root.raw"
mkfs.xfs -q -L img-rootfs "$work/root.raw"
mount -o loop "$work/root.raw" "$mnt"
tar -C "$tree" -cf - . | tar -C "$mnt" -xf - --numeric-owner
umount "$mnt"
step qemu-img-convert
qemu-img convert -c -f raw -O qcow2 "$work/root.raw" "$out/overcloud-full.qcow2"
rm -f "$work/root.raw"
while IFS=: read -r name bins mods; do
  step "ramdisk $name"
  rd="$work/rd-$name"
  mkdir -p "$rd"/{dev,proc,sys,run,tmp,root,etc,bin,sbin,usr/bin,usr/sbin,usr/lib,lib64}
  ln -s usr/lib "$rd/lib"
  for b in $bins; do
    p=""
    for d in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
      [ -e "$tree$d/$b" ] && { p="$d/$b"; break; }
    done
    [ -n "$p" ] || { echo "$name: $b is not in the guest" >&2; exit 1; }
    real=$(chroot "$tree" readlink -f "$p")
    mkdir -p "$rd$(dirname "$real")"; cp -L "$tree$real" "$rd$real"
    [ "$real" = "$p" ] || { mkdir -p "$rd$(dirname "$p")"; ln -sf "$real" "$rd$p"; }
    chroot "$tree" ldd "$real" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | while read -r lib; do
      r=$(chroot "$tree" readlink -f "$lib")
      mkdir -p "$rd$(dirname "$lib")"; [ -e "$rd$lib" ] || cp -L "$tree$r" "$rd$lib"
    done
  done
  for m in $mods; do
    modprobe -d "$tree" -S "$kver" --show-depends "$m" | awk '$1 == "insmod" { print $2 }' | while read -r ko; do
      ko=${ko#"$tree"}
      mkdir -p "$rd$(dirname "$ko")"; cp "$tree$ko" "$rd$ko"
    done
  done
  cp "$tree/lib/modules/$kver"/modules.{order,builtin,builtin.modinfo} "$rd/lib/modules/$kver/" 2>/dev/null || true
  depmod -b "$rd" "$kver"
  {
    printf '#!/bin/sh\nmount -t proc proc /proc\nmount -t sysfs sysfs /sys\nmount -t devtmpfs devtmpfs /dev 2>/dev/null\n'
    printf 'if command -v modprobe >/dev/null 2>&1; then\n  for m in %s; do modprobe "$m"; done\nfi\n' "$mods"
    printf 'exec /bin/sh </dev/console >/dev/console 2>&1\n'
  } >"$rd/init"
  chmod 755 "$rd/init"
  (cd "$rd" && find . | cpio -o -H newc -R 0:0 --quiet | gzip -6) >"$out/$name.initramfs"
  kernel=$name.kernel
  cp "$work/kernel/vmlinuz-$kver" "$out/$kernel"
done <<<"$ramdisks"
step done
EOF

# ---- the runs -------------------------------------------------------------------------------------------------
# timed NAME CMD...: runs CMD, appends "wall_ms rss_kib cpu_ms" to $scratch/NAME.times; its stderr (with
# timestamps from theirs) goes to $scratch/NAME.log; a failure stops the run.
timed() {
  local name=$1; shift
  local t0 t1
  t0=$(date +%s%N)
  if ! /usr/bin/time -f '%M %U %S' -o "$scratch/rss" "$@" >"$scratch/$name.out" 2>"$scratch/$name.log"; then
    tail -30 "$scratch/$name.log" >&2
    die "failed: $*"
  fi
  t1=$(date +%s%N)
  tail -1 "$scratch/rss" | awk -v wall=$(( (t1 - t0) / 1000000 )) '{ printf "%d %d %d\n", wall, $1, ($2 + $3) * 1000 }' >>"$scratch/$name.times"
}
median_ms() { sort -n "$1" | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2)) }'; }
median_cpu_ms() { sort -n -k3 "$1" | awk '{ v[NR] = $3 } END { print (NR % 2 ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2)) }'; }
peak_kib() { sort -n -k2 "$1" | tail -1 | cut -d' ' -f2; }
sec() { awk -v v="$1" 'BEGIN { printf "%.1f", v / 1000 }'; }

judge() { # judge DIR: our outputs
  local d=$1
  qemu-img check -q "$d/overcloud-full.qcow2" || die "qemu-img check failed on overcloud-full.qcow2"
  qemu-img convert -f qcow2 -O raw "$d/overcloud-full.qcow2" "$scratch/judge.raw"
  xfs_repair -n "$scratch/judge.raw" >"$scratch/repair.log" 2>&1 || { cat "$scratch/repair.log" >&2; die "xfs_repair -n failed on overcloud-full.qcow2"; }
  blkid -o value -s LABEL "$scratch/judge.raw" | grep -qx img-rootfs || die "overcloud-full.qcow2 is not labelled img-rootfs"
  rm -f "$scratch/judge.raw"
  [ "$("$DI" cat "$d/overcloud-full.qcow2" /etc/hostname)" = overcloud ] || die "overcloud-full.qcow2 has not the recipe's hostname"
  for f in "$d"/*.initramfs; do
    gzip -t "$f" && gzip -dc "$f" | cpio -t --quiet >/dev/null || die "$f is not a gzip newc archive"
    gzip -dc "$f" | cpio -t --quiet | grep -x init >/dev/null || die "$f has no /init"
  done
  [ "$(sha256sum "$base" | cut -d' ' -f1)" = "$base_sha" ] || die "the base image changed"
}

mkdir "$mnt"
log "ours: $DI ($DI_KIND); theirs: $(virt-customize --version), $(qemu-img --version | head -1), $(mkfs.xfs -V)"
log "base: $(describe "$base"); kernel $kver; $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg); $( [ -e /dev/kvm ] && echo KVM || echo 'no KVM: TCG')"
log "ramdisks: $(echo "$ramdisks" | tr '\n' ';')"
sync
for ((r = 1; r <= RUNS; r++)); do
  log "ours, run $r"
  rm -rf "$scratch/ours"
  timed ours "$DI" overcloud build --all --base "$base" --recipe "$recipe" -o "$scratch/ours" --tmpdir "$scratch"
  [ "$r" -gt 1 ] || judge "$scratch/ours"
  tail -1 "$scratch/ours.times" >&2
  log "theirs, run $r"
  rm -rf "$scratch/theirs" "$scratch/theirs-work"
  timed theirs bash "$theirs" "$base" "$scratch/theirs" "$scratch/theirs-work" "$mnt" "$kver" "$ramdisks" "${custom[@]}"
  cp "$scratch/theirs.log" "$scratch/theirs-$r.log"
  tail -1 "$scratch/theirs.times" >&2
  rm -rf "$scratch/theirs-work"
done

printf '\nfiles (ours | theirs), bytes:\n'
for f in $(cd "$scratch/ours" && ls | grep -v '\.json$'); do
  printf '  %-36s %12d | %12s\n' "$f" "$(stat -c %s "$scratch/ours/$f")" "$(stat -c %s "$scratch/theirs/$f" 2>/dev/null || echo -)"
done
printf '\ntheir steps (last run), seconds:\n'
awk 'NR > 1 { printf "  %-32s %7.1f\n", name, $1 - t } { t = $1; name = $2 " " $3 }' "$scratch/theirs-$RUNS.log"

o=$(median_ms "$scratch/ours.times"); t=$(median_ms "$scratch/theirs.times")
oc=$(median_cpu_ms "$scratch/ours.times"); tc=$(median_cpu_ms "$scratch/theirs.times")
om=$(( $(peak_kib "$scratch/ours.times") >> 10 )); tm=$(( $(peak_kib "$scratch/theirs.times") >> 10 ))
ratio=$(awk -v o="$o" -v t="$t" 'BEGIN { printf "%.4f", o / t }')
printf '\n%-8s %10s %10s %10s\n' "" wall CPU "peak RSS"
printf '%-8s %8s s %8s s %6d MiB\n' theirs "$(sec "$t")" "$(sec "$tc")" "$tm"
printf '%-8s %8s s %8s s %6d MiB\n' ours "$(sec "$o")" "$(sec "$oc")" "$om"
echo
echo "ratio ours/theirs (median wall of $RUNS runs each, alternating): $ratio, target <= 0.05: $(awk -v r="$ratio" 'BEGIN { print (r <= 0.05 ? "ok" : "MISS") }')"
echo "our peak RSS: $om MiB, target <= 256 MiB: $( [ "$om" -le 256 ] && echo ok || echo MISS)"
echo "CPU: user+sys of the process tree (theirs includes the appliance's qemu); RSS: the largest single process (/usr/bin/time %M)"
echo "base: $(describe "$base"); $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "our outputs: qemu-img check, xfs_repair -n, blkid LABEL=img-rootfs, hostname, gzip -t + cpio -t clean; the base unchanged"
