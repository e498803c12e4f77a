#!/usr/bin/env bash
# Packs the same real tree with DiskImage and with `find | sort | cpio -o -H newc | zstd -3`,
# `... | gzip -6` and `... | bzip2 -9`, alternating the two RUNS times per compressor in one run, and
# prints the best and median wall times, CPU times, sizes and ours/pipeline ratios against the
# targets (zstd <= 1.0, gzip <= 0.5, bzip2 <= 1.0). COMPRESSORS (default "zstd gzip bzip2") picks rows. With
# bzip2, a last row compares one thread of our bzip2 encoder with `bzip2 -9` on the same cpio archive.
#
# Both outputs are judged before any figure is printed: each must pass its compressor's own test
# (`zstd -t`, `gzip -t`, `bzip2 -t`); decompressed, `cpio -it` must list the same paths for both; GNU cpio must
# extract ours to a tree equal to the input (type, mode, owner, size, link target, link count,
# device numbers, content); and every run of ours must give byte-identical output.
#
# Tree: $1, else the debootstrap fixture (benchmarks/debootstrap-fixture.sh; builds it once, as
# root). Environment: RUNS (default 5), OURS (cli, the default, or bench; see below),
# DISKIMAGE_LEVEL, DISKIMAGE_ZSTD_WORKERS and DISKIMAGE_GZIP_WORKERS (OURS=bench only), BENCH_NICE=0 (as root, both sides otherwise run
# under nice -n -20 in a scheduler autogroup of their own at -20, so other load disturbs them less).
# Usage: benchmarks/compare-cpio.sh [tree]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
RUNS=${RUNS:-5}
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 LC_ALL=C
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

tree="${1:-}"
[ -n "$tree" ] || tree="$("$here/debootstrap-fixture.sh")"
[ -d "$tree" ] || die "no such directory: $tree"
tree="$(cd "$tree" && pwd)"
for tool in cpio zstd gzip bzip2 sha256sum bc; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is required"
done

out="$(mktemp -d)"; trap 'rm -rf "$out"' EXIT
# Our side: the diskimage CLI (`mkinitramfs --reproducible`), published as native AOT when the
# toolchain allows it, else framework-dependent; OURS=bench uses the benchmark project's
# pack-initramfs command instead (JIT; honours the DISKIMAGE_* variables above).
OURS=${OURS:-cli}
case "$OURS" in
  cli)
    if dotnet publish "$here/../src/DiskImage.Cli/DiskImage.Cli.csproj" -c Release -o "$out/cli" >"$out/publish.log" 2>&1 &&
       file -L "$out/cli/diskimage" 2>/dev/null | grep -q ELF; then
      ours_kind="diskimage CLI, native AOT"
    else
      rm -rf "$out/cli"
      dotnet publish "$here/../src/DiskImage.Cli/DiskImage.Cli.csproj" -c Release -p:PublishAot=false -o "$out/cli" >"$out/publish.log" 2>&1 ||
        { cat "$out/publish.log" >&2; die "dotnet publish failed"; }
      ours_kind="diskimage CLI, framework-dependent"
    fi
    ours=("$out/cli/diskimage" mkinitramfs "$tree" --reproducible --compress) ;;
  bench)
    dotnet build -c Release "$here/DiskImage.Benchmarks" -v q -nologo >/dev/null
    ours_kind="benchmark pack-initramfs, JIT"
    ours=("$here/DiskImage.Benchmarks/bin/Release/net10.0/DiskImage.Benchmarks" pack-initramfs "$tree") ;;
  *) die "OURS must be cli or bench" ;;
esac

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
echo "tree: $tree ($files entries, $((bytes / 1048576)) MiB); $(nproc) CPUs; RUNS=$RUNS; $prio_note"
echo "ours: $ours_kind"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
# Warm the page cache so both sides read from memory.
find "$tree" -type f -print0 | xargs -0 cat > /dev/null 2>&1 || true

# timed FILE CMD...: runs CMD, appends "wall_seconds cpu_seconds" to FILE.
timed() {
  local file=$1; shift
  local t0 t1
  t0=$(date +%s%N)
  /usr/bin/time -f '%U %S' -o "$out/cpu" "${prio[@]}" "$@" >/dev/null 2>"$out/cmd.err" ||
    { cat "$out/cmd.err" >&2; die "failed: $*"; }
  t1=$(date +%s%N)
  read -r user sys < "$out/cpu"
  echo "$(echo "($t1 - $t0) / 1000000000" | bc -l) $(echo "$user + $sys" | bc -l)" >> "$file"
}
best() { sort -g "$1" | head -1 | cut -d' ' -f"$2"; }
median() { sort -g "$1" | awk -v f="$2" '{ v[NR] = $f } END { print v[int((NR + 1) / 2)] }'; }
# The paths a cpio archive lists, without GNU cpio's "./" prefix and the root ".".
listing() { cpio -it --quiet < "$1" | sed -e 's#^\./##' | grep -vx '\.' | sort; }
# type, mode, owner, size (not for directories), link target, link count, device numbers; and
# content. Owners and device nodes only as root: GNU cpio restores them only then.
if [ "$(id -u)" = 0 ]; then owner='%U\t%G'; devices=(-false); else owner='-\t-'; devices=(-type b -o -type c); fi
manifest() {
  (cd "$1" && find . -mindepth 1 -not \( "${devices[@]}" \) -printf "%P\t%y\t%m\t$owner\t%s\t%l\t%n\n" |
    awk -F'\t' -v OFS='\t' '$2 == "d" { $6 = "-" } { print }' | sort)
  [ "$(id -u)" != 0 ] || (cd "$1" && find . -mindepth 1 \( -type b -o -type c \) -exec stat -c '%n %F %t:%T' {} + | sort)
  (cd "$1" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum)
}

declare -A target=([zstd]=1.0 [gzip]=0.5 [bzip2]=1.0)
rows=()
for c in ${COMPRESSORS:-zstd gzip bzip2}; do
  case $c in
    zstd) comp="zstd -3 -q -T1"; dec="zstd -dc" ;;
    gzip) comp="gzip -6 -n"; dec="gzip -dc" ;;
    bzip2) comp="bzip2 -9"; dec="bzip2 -dc" ;;
    *) die "unknown compressor $c (zstd, gzip or bzip2)" ;;
  esac
  pipe_cmd=(sh -c "cd '$tree' && find . | sort | cpio -o -H newc --quiet | $comp > '$out/pipe.$c'")
  if [ "$OURS" = cli ]; then ours_cmd=("${ours[@]}" "$c" -o "$out/ours.$c"); else ours_cmd=("${ours[@]}" "$out/ours.$c" "$c"); fi
  "${pipe_cmd[@]}"; "${ours_cmd[@]}" >/dev/null   # untimed warm-up of both sides
  : > "$out/pipe.$c.times"; : > "$out/ours.$c.times"
  ref=$(sha256sum < "$out/ours.$c")
  for ((i = 0; i < RUNS; i++)); do
    timed "$out/pipe.$c.times" "${pipe_cmd[@]}"
    timed "$out/ours.$c.times" "${ours_cmd[@]}"
    [ "$(sha256sum < "$out/ours.$c")" = "$ref" ] || die "$c: our output differs between runs"
  done

  # Judge both outputs.
  case $c in
    zstd) zstd -q -t "$out/pipe.$c" "$out/ours.$c" ;;
    gzip) gzip -t "$out/pipe.$c" "$out/ours.$c" ;;
    bzip2) bzip2 -t "$out/pipe.$c" "$out/ours.$c" ;;
  esac
  $dec "$out/pipe.$c" > "$out/pipe.cpio"; $dec "$out/ours.$c" > "$out/ours.cpio"
  listing "$out/pipe.cpio" > "$out/pipe.list"; listing "$out/ours.cpio" > "$out/ours.list"
  cmp -s "$out/pipe.list" "$out/ours.list" ||
    { diff "$out/pipe.list" "$out/ours.list" | head -20 >&2; die "$c: cpio -it lists different paths"; }
  [ "$(wc -l < "$out/ours.list")" -eq $((files - 1)) ] || die "$c: cpio -it lists $(wc -l < "$out/ours.list") paths, the tree has $((files - 1))"
  rm -rf "$out/x"; mkdir "$out/x"
  (cd "$out/x" && cpio -id --quiet --no-absolute-filenames < "$out/ours.cpio")
  manifest "$tree" > "$out/tree.manifest"; manifest "$out/x" > "$out/x.manifest"
  cmp -s "$out/tree.manifest" "$out/x.manifest" ||
    { diff "$out/tree.manifest" "$out/x.manifest" | head -20 >&2; die "$c: GNU cpio extracts ours to a different tree"; }
  rm -rf "$out/x" "$out/pipe.cpio" "$out/ours.cpio"

  pb=$(best "$out/pipe.$c.times" 1); ob=$(best "$out/ours.$c.times" 1)
  pm=$(median "$out/pipe.$c.times" 1); om=$(median "$out/ours.$c.times" 1)
  pc=$(median "$out/pipe.$c.times" 2); oc=$(median "$out/ours.$c.times" 2)
  ps=$(stat -c %s "$out/pipe.$c"); os=$(stat -c %s "$out/ours.$c")
  rb=$(echo "$ob / $pb" | bc -l); rm=$(echo "$om / $pm" | bc -l)
  verdict=$(echo "$rm <= ${target[$c]}" | bc -l)
  pairs=$(paste -d' ' "$out/ours.$c.times" "$out/pipe.$c.times" | awk '{ printf "%s%.2f", (NR > 1 ? " " : ""), $1 / $3 }')
  rows+=("$(printf '%-5s | pipeline best %5.2f s, median %5.2f s, CPU %5.2f s, %9d B | ours best %5.2f s, median %5.2f s, CPU %5.2f s, %9d B | ratio best %.2f, median %.2f (target <= %s: %s) | size %.3f' \
    "$c" "$pb" "$pm" "$pc" "$ps" "$ob" "$om" "$oc" "$os" "$rb" "$rm" "${target[$c]}" \
    "$([ "$verdict" = 1 ] && echo met || echo missed)" "$(echo "$os / $ps" | bc -l)")")
  rows+=("     ratio of each run (ours / the pipeline run before it): $pairs")
done
# Per-core speed of the bzip2 encoder: the same cpio archive (GNU cpio's, of the tree) through `bzip2 -9` and
# through our encoder on the calling thread only (the benchmark project's `bzip2-file ... 0`, JIT), alternately
# RUNS times; ours must pass `bzip2 -t` and decompress to the archive. BZIP2_PER_CORE=0 skips it.
if [[ " ${COMPRESSORS:-zstd gzip bzip2} " == *" bzip2 "* ]] && [ "${BZIP2_PER_CORE:-1}" = 1 ]; then
  dotnet build -c Release "$here/DiskImage.Benchmarks" -v q -nologo >/dev/null
  bench="$here/DiskImage.Benchmarks/bin/Release/net10.0/DiskImage.Benchmarks"
  (cd "$tree" && find . | sort | cpio -o -H newc --quiet > "$out/tree.cpio")
  pc_pipe=(sh -c "bzip2 -9 < '$out/tree.cpio' > '$out/pc.pipe.bz2'")
  pc_ours=("$bench" bzip2-file "$out/tree.cpio" "$out/pc.ours.bz2" 0)
  "${pc_pipe[@]}"; "${pc_ours[@]}" >/dev/null   # untimed warm-up of both sides
  : > "$out/pc.pipe.times"; : > "$out/pc.ours.times"
  for ((i = 0; i < RUNS; i++)); do
    timed "$out/pc.pipe.times" "${pc_pipe[@]}"
    timed "$out/pc.ours.times" "${pc_ours[@]}"
  done
  bzip2 -t "$out/pc.ours.bz2"
  bzip2 -dc "$out/pc.ours.bz2" | cmp -s - "$out/tree.cpio" || die "bzip2 (1 thread): ours does not decompress to the archive"
  pb=$(best "$out/pc.pipe.times" 1); ob=$(best "$out/pc.ours.times" 1)
  pm=$(median "$out/pc.pipe.times" 1); om=$(median "$out/pc.ours.times" 1)
  pc=$(median "$out/pc.pipe.times" 2); oc=$(median "$out/pc.ours.times" 2)
  ps=$(stat -c %s "$out/pc.pipe.bz2"); os=$(stat -c %s "$out/pc.ours.bz2")
  rows+=("$(printf 'bzip2, one thread, %d B of cpio | bzip2 -9 best %5.2f s, median %5.2f s, CPU %5.2f s, %9d B | ours (0 workers, JIT) best %5.2f s, median %5.2f s, CPU %5.2f s, %9d B | ratio best %.2f, median %.2f, CPU %.2f | size %.4f' \
    "$(stat -c %s "$out/tree.cpio")" "$pb" "$pm" "$pc" "$ps" "$ob" "$om" "$oc" "$os" "$(echo "$ob / $pb" | bc -l)" "$(echo "$om / $pm" | bc -l)" \
    "$(echo "$oc / $pc" | bc -l)" "$(echo "$os / $ps" | bc -l)")")
  rm -f "$out/tree.cpio"
fi
echo "load after:  $(cut -d' ' -f1-3 /proc/loadavg)"
echo "judged: zstd -t / gzip -t / bzip2 -t pass; cpio -it lists equal; GNU cpio extracts ours to the input tree; ours identical over all runs"
printf '%s\n' "${rows[@]}"
echo "(CPU = user+sys of the median run; wall times include process start-up on both sides)"
