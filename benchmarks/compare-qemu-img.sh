#!/usr/bin/env bash
# Times the diskimage CLI against `qemu-img convert` on the same files, in one run.
#
# Input: an ext4 image of a real directory tree (a Debian minbase root made by debootstrap, then
# `mkfs.ext4 -d`), built once and cached under benchmarks/.cache/. Building it needs root and the
# Debian mirror this machine's apt already uses (read from /etc/apt/sources.list*).
#
# Cases: raw→qcow2, qcow2(zlib)→raw, raw→qcow2 -c (zstd), raw→qcow2 -c (zlib). Each tool runs
# RUNS times per case, alternating; the best wall time and the peak RSS are reported, then every
# output of ours is judged by `qemu-img compare` (and `qemu-img check` for qcow2).
#
# Environment: RUNS (default 3), IMAGE_SIZE (ext4 size, default 2G), SUITE (default: this
# machine's Debian codename), DEBIAN_MIRROR (default: from apt's sources), DISKIMAGE (a prebuilt
# diskimage executable; default: publish src/DiskImage.Cli, native AOT when possible).
# Usage: benchmarks/compare-qemu-img.sh [--prepare-only]
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

# The mirror apt uses for $SUITE: deb822 *.sources first, then one-line *.list files.
debian_mirror() {
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri=$(awk -v suite="$SUITE" '
      BEGIN { RS = ""; FS = "\n" }
      {
        uris = ""; suites = ""; types = ""; enabled = 1
        for (i = 1; i <= NF; i++) {
          line = $i
          if (line ~ /^[ \t]*#/) continue
          if (line ~ /^URIs:/)    { sub(/^URIs:[ \t]*/, "", line); uris = line }
          if (line ~ /^Suites:/)  { sub(/^Suites:[ \t]*/, "", line); suites = line }
          if (line ~ /^Types:/)   { sub(/^Types:[ \t]*/, "", line); types = line }
          if (line ~ /^Enabled:[ \t]*no/) enabled = 0
        }
        if (!enabled || types !~ /(^|[ \t])deb([ \t]|$)/) next
        n = split(suites, s, /[ \t]+/)
        for (j = 1; j <= n; j++) if (s[j] == suite) { split(uris, u, /[ \t]+/); print u[1]; exit }
      }' "$f")
    if [ -n "$uri" ]; then echo "$uri"; return; fi
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    uri=$(sed -e 's/\[[^]]*\]//' "$f" | awk -v suite="$SUITE" '$1 == "deb" && $3 == suite { print $2; exit }')
    if [ -n "$uri" ]; then echo "$uri"; return; fi
  done
}

image="$cache/debian-$SUITE-minbase.ext4.raw"
qcow2_zlib="$cache/debian-$SUITE-minbase.zlib.qcow2"

prepare_image() {
  mkdir -p "$cache"
  need qemu-img qemu-utils
  need mkfs.ext4 e2fsprogs
  if [ ! -f "$image" ]; then
    [ "$(id -u)" = 0 ] || die "building the cached image needs root (debootstrap)"
    need debootstrap debootstrap
    local mirror=${DEBIAN_MIRROR:-$(debian_mirror)}
    [ -n "$mirror" ] || die "no apt source serves suite '$SUITE'; set DEBIAN_MIRROR"
    local root="$cache/rootfs.tmp"
    rm -rf "$root" "$image.tmp"
    log "debootstrap --variant=minbase $SUITE from apt's mirror (cached afterwards)"
    debootstrap --variant=minbase "$SUITE" "$root" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
      die "debootstrap failed; see $cache/debootstrap.log"
    rm -rf "$root/var/cache/apt/archives/"*.deb
    log "mkfs.ext4 -d rootfs ($IMAGE_SIZE)"
    mkfs.ext4 -q -F -L rootfs -d "$root" "$image.tmp" "$IMAGE_SIZE"
    mv "$image.tmp" "$image"
    rm -rf "$root"
  fi
  if [ ! -f "$qcow2_zlib" ]; then
    log "qemu-img convert -c (zlib) for the qcow2→raw case"
    qemu-img convert -f raw -O qcow2 -c "$image" "$qcow2_zlib.tmp"
    mv "$qcow2_zlib.tmp" "$qcow2_zlib"
  fi
}

prepare_image
if [ "${1:-}" = "--prepare-only" ]; then
  ls -ls "$image" "$qcow2_zlib"
  exit 0
fi
