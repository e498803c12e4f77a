#!/usr/bin/env bash
# Builds (once) and prints the path of the shared real-tree fixture: a Debian minbase root made by
# `debootstrap --variant=minbase`, kept as a directory so that tests and compare scripts can build
# file systems and archives from it. Building it needs root (ownership and device nodes are part of
# the fixture) and the Debian mirror this machine's apt already uses (read from /etc/apt/sources*).
#
# Environment: DISKIMAGE_FIXTURES (cache folder; default benchmarks/.cache), SUITE (default: this
# machine's Debian codename), DEBIAN_MIRROR (default: from apt's sources).
# Usage: benchmarks/debootstrap-fixture.sh   (prints the tree's absolute path on stdout)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${DISKIMAGE_FIXTURES:-$here/.cache}
export DEBIAN_FRONTEND=noninteractive

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

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

tree="$cache/debian-$SUITE-minbase"
if [ ! -f "$tree.complete" ]; then
  [ "$(id -u)" = 0 ] || die "building the debootstrap fixture needs root"
  if ! command -v debootstrap >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  fi
  mirror=${DEBIAN_MIRROR:-$(debian_mirror)}
  [ -n "$mirror" ] || die "no apt source serves suite '$SUITE'; set DEBIAN_MIRROR"
  mkdir -p "$cache"
  rm -rf "$tree.tmp"
  log "debootstrap --variant=minbase $SUITE from apt's mirror (cached afterwards)"
  debootstrap --variant=minbase "$SUITE" "$tree.tmp" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
    die "debootstrap failed; see $cache/debootstrap.log"
  rm -rf "$tree.tmp/var/cache/apt/archives/"*.deb
  rm -rf "$tree"
  mv "$tree.tmp" "$tree"
  touch "$tree.complete"   # beside the tree, not in it: the tree is compared file by file
fi
printf '%s\n' "$tree"
