#!/usr/bin/env bash
# The main job on a built-in input, needing only the .NET SDK (no qemu-img):
# makes a 64 MiB sparse raw disk with a known pattern, converts it to qcow2 (plain, deflate- and
# zstd-compressed), shows info/map, checks the qcow2 files, compares each with the raw original and
# converts one back to raw. Then the file-system half: builds an ext4 file system in a qcow2 from a
# small generated tree (like virt-make-fs), lists and reads it, copies a file in and the tree back out
# (like virt-copy-in/out) and compares with the source, and packs the tree as a zstd initramfs. Last the
# product's main job: `overcloud build --all` with no --base, so the command makes its own base guest (from the
# debootstrap tree in DISKIMAGE_DEBOOTSTRAP_TREE when set, otherwise a minimal generated tree; the host's kernel,
# initrd and modules, or placeholders that say so), and every output is checked (ours, and qemu-img check,
# xfs_repair -n, lsinitramfs or cpio when installed).
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
rm -rf demo.raw demo.qcow2 demo-zlib.qcow2 demo-zstd.qcow2 roundtrip.raw tree rootfs.qcow2 out initrd.img overcloud overcloud-full.raw

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

# The file-system half: a small tree with a nested directory, a symlink, a hard link and a sparse file.
mkdir -p tree/etc/demo tree/usr/bin tree/var/log
echo demo-host >tree/etc/hostname
seq 1 20000 >tree/etc/demo/numbers.txt
printf '#!/bin/sh\necho hello from the demo image\n' >tree/usr/bin/hello && chmod 755 tree/usr/bin/hello
ln -s ../../usr/bin/hello tree/etc/demo/hello-link
ln tree/etc/hostname tree/etc/hostname.hardlink
truncate -s 8M tree/var/log/sparse.log && echo "the end" >>tree/var/log/sparse.log
echo "tree: $dir/tree"

run make-fs --format qcow2 --size +16M --label demo tree rootfs.qcow2
run check rootfs.qcow2
run ls -l rootfs.qcow2 /etc /etc/demo
run cat rootfs.qcow2 /etc/hostname
echo "motd written by copy-in" >motd
run copy-in rootfs.qcow2 motd /etc
run cat rootfs.qcow2 /etc/motd
mkdir out
run copy-out rootfs.qcow2 /etc /usr /var out
cp motd tree/etc/motd
diff -r --no-dereference tree out || { echo "copy-out differs from the source tree" >&2; exit 1; }
echo "copy-out equals the source tree (plus the injected /etc/motd)"
rm tree/etc/motd
run mkinitramfs tree -o initrd.img --compress zstd --reproducible
run lsinitramfs -l initrd.img

# The main job: the overcloud images from a base guest the command makes itself (no --base).
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000}
run overcloud build --all -o overcloud
for f in overcloud-full.qcow2 overcloud-full.vmlinuz overcloud-full.initrd deploy-ramdisk-ironic.kernel \
  deploy-ramdisk-ironic.initramfs ironic-python-agent.kernel ironic-python-agent.initramfs overcloud-build.json; do
  [ -s "overcloud/$f" ] || { echo "overcloud build did not produce $f" >&2; exit 1; }
done
if ls -A overcloud | grep -q '^\.'; then echo "temporary files left in the output directory" >&2; exit 1; fi
run check overcloud/overcloud-full.qcow2
if command -v qemu-img >/dev/null; then
  printf '\n$ qemu-img check overcloud/overcloud-full.qcow2\n'; qemu-img check overcloud/overcloud-full.qcow2
fi
run convert -f qcow2 -O raw overcloud/overcloud-full.qcow2 overcloud-full.raw
if command -v xfs_repair >/dev/null; then
  printf '\n$ xfs_repair -n -f overcloud-full.raw\n'; xfs_repair -n -f overcloud-full.raw
fi
run ls overcloud-full.raw /etc/fstab /etc/diskimage-base-guest
run cat overcloud-full.raw /etc/diskimage-base-guest
for r in deploy-ramdisk-ironic ironic-python-agent; do
  run lsinitramfs "overcloud/$r.initramfs" | grep -x 'init' >/dev/null || { echo "$r.initramfs has no /init" >&2; exit 1; }
  if command -v lsinitramfs >/dev/null; then
    printf '\n$ lsinitramfs overcloud/%s.initramfs | wc -l\n' "$r"
    lsinitramfs "overcloud/$r.initramfs" | grep -x 'init' >/dev/null && lsinitramfs "overcloud/$r.initramfs" | wc -l
  elif command -v cpio >/dev/null; then
    printf '\n$ gzip -dc overcloud/%s.initramfs | cpio -it | wc -l\n' "$r"
    gzip -dc "overcloud/$r.initramfs" | cpio -it --quiet | grep -x 'init' >/dev/null && gzip -dc "overcloud/$r.initramfs" | cpio -it --quiet | wc -l
  fi
done
rm -f overcloud-full.raw

printf '\nfiles (allocated KiB, name):\n'
du -k demo.raw demo.qcow2 demo-zlib.qcow2 demo-zstd.qcow2 roundtrip.raw rootfs.qcow2 initrd.img overcloud/*
echo "demo ok: $dir"
