# Scale mode of compare-qemu-img.sh (sourced by it; uses its DI, prio, prio_note, RUNS, log, die).
# See the usage comment at the top of compare-qemu-img.sh.
# shellcheck shell=bash

# scale_timed NAME FRESH CMD...: runs CMD under /usr/bin/time -v, appends "wall_ms cpu_ms rss_kib" to
# $sdir/NAME.times. FRESH, when not empty, is this tool's previous output, removed after the sync and
# just before the run (a new-target case), so that each tool starts in the same state: the memory of
# its own previous output just freed. (Removing both outputs before the pair handed the first tool
# the freed memory of both; on a virtual machine that returns free memory to its host, writing into
# memory not reused at once costs a host fault per page, several times the copy itself.)
scale_timed() {
  local name=$1 fresh=$2; shift 2
  local t0 t1
  sync
  [ -z "$fresh" ] || rm -f "$fresh"
  t0=$(date +%s%N)
  if ! /usr/bin/time -v -o "$sdir/time.log" "${prio[@]}" "$@" >"$sdir/cmd.log" 2>&1; then
    cat "$sdir/cmd.log" >&2
    die "failed: $*"
  fi
  t1=$(date +%s%N)
  awk -v wall=$(( (t1 - t0) / 1000000 )) -F': ' '
    /User time \(seconds\)/ { u = $2 }
    /System time \(seconds\)/ { s = $2 }
    /Maximum resident set size/ { r = $2 }
    END { printf "%d %d %d\n", wall, (u + s) * 1000, r }' "$sdir/time.log" >>"$sdir/$name.times"
}

# median FILE FIELD: the median of column FIELD (the lower middle for an even count)
median() { cut -d' ' -f"$2" "$1" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
peak() { cut -d' ' -f3 "$1" | sort -n | tail -1; }

# scale_strace NAME FRESH CMD...: one run under strace -c -f; writes "total writes truncates futex" to $sdir/NAME.sys
scale_strace() {
  local name=$1 fresh=$2; shift 2
  if [ -z "$have_strace" ]; then echo "- - - -" >"$sdir/$name.sys"; return; fi
  sync
  [ -z "$fresh" ] || rm -f "$fresh"
  strace -c -f -o "$sdir/strace.log" "$@" >"$sdir/cmd.log" 2>&1 || { cat "$sdir/cmd.log" >&2; die "failed under strace: $*"; }
  awk '
    $NF == "total" { total = $4 }
    $NF ~ /^pwrite/ || $NF == "write" || $NF == "writev" { writes += $4 }
    $NF == "ftruncate" || $NF == "fallocate" { trunc += $4 }
    $NF == "futex" { futex = $4 }
    END { printf "%d %d %d %d\n", total, writes, trunc, futex }' "$sdir/strace.log" >"$sdir/$name.sys"
}

scale_input() {
  local runs=$((scale_gib * 16))
  local virt_mib=$(( (scale_gib * 20 * 1024 / 6 + 63) / 64 * 64 ))
  local stride=$(( virt_mib / runs ))
  input_raw="$sdir/input.raw"; input_qcow2="$sdir/input.qcow2"
  log "building the input: ${virt_mib} MiB sparse raw, $runs runs of 64 MiB every $stride MiB (even runs random, odd runs a repeating pattern)"
  truncate -s "${virt_mib}M" "$input_raw"
  yes 'DiskImage scale benchmark: a repeating, compressible pattern 0123456789 abcdefghijklmnopqrstuvwxyz' |
    head -c 64M >"$sdir/pattern.bin" || true
  local i
  for ((i = 0; i < runs; i++)); do
    if ((i % 2 == 0)); then
      head -c 64M /dev/urandom | dd of="$input_raw" bs=1M seek=$((i * stride)) conv=notrunc iflag=fullblock status=none
    else
      dd if="$sdir/pattern.bin" of="$input_raw" bs=1M seek=$((i * stride)) conv=notrunc status=none
    fi
  done
  rm -f "$sdir/pattern.bin"
  log "qemu-img convert -O qcow2 (untimed) for the qcow2->raw cases"
  qemu-img convert -f raw -O qcow2 "$input_raw" "$input_qcow2"
  data_mib=$(( $(du -k "$input_raw" | cut -f1) / 1024 ))
  virt_size_mib=$virt_mib
}

run_scale() {
  sdir=${SCALE_DIR:-$cache/scale}
  rm -rf "$sdir"; mkdir -p "$sdir"
  trap 'rm -rf "$sdir"' EXIT
  have_strace=""
  if command -v strace >/dev/null 2>&1; then have_strace=1; else log "strace is not installed: no syscall counts"; fi
  scale_input
  log "input: $virt_size_mib MiB virtual, $data_mib MiB data; $RUNS alternating runs per tool and case"
  log "ours: $DI ($DI_KIND); qemu-img: $(qemu-img --version | head -1)"

  # label|qemu-img arguments|input (raw or qcow2)|output format|existing target (1) or new (0)|wall target|CPU target
  local -a cases=(
    "raw->qcow2 new|-f raw -O qcow2|raw|qcow2|0|0.8|1.0"
    "raw->qcow2 existing|-f raw -O qcow2|raw|qcow2|1|0.8|1.0"
    "qcow2->raw new|-f qcow2 -O raw|qcow2|raw|0|0.8|1.0"
    "qcow2->raw existing|-f qcow2 -O raw|qcow2|raw|1|0.8|1.0"
    "raw->qcow2 -c zlib|-f raw -O qcow2 -c|raw|qcow2|0|0.5|-"
    "raw->qcow2 -c zstd|-f raw -O qcow2 -c -o compression_type=zstd|raw|qcow2|0|0.6|-"
  )
  local -a rows=()
  local failures=0 i r label flags in out existing wt ct input ours_out qemu_out verdict
  for i in "${!cases[@]}"; do
    IFS='|' read -r label flags in out existing wt ct <<<"${cases[$i]}"
    read -r -a args <<<"$flags"
    if [ "$in" = raw ]; then input=$input_raw; else input=$input_qcow2; fi
    ours_out="$sdir/ours.$out"; qemu_out="$sdir/qemu.$out"
    rm -f "$ours_out" "$qemu_out" "$sdir/ours-$i.times" "$sdir/qemu-$i.times"
    log "$label"
    if [ "$existing" = 1 ]; then
      # The target each run replaces: the tool's own previous output.
      qemu-img convert "${args[@]}" "$input" "$qemu_out"
      "$DI" convert "${args[@]}" "$input" "$ours_out" >/dev/null
    fi
    local qfresh="" ofresh=""
    [ "$existing" = 1 ] || { qfresh=$qemu_out; ofresh=$ours_out; }
    for ((r = 1; r <= RUNS; r++)); do
      scale_timed "qemu-$i" "$qfresh" qemu-img convert "${args[@]}" "$input" "$qemu_out"
      scale_timed "ours-$i" "$ofresh" "$DI" convert "${args[@]}" "$input" "$ours_out"
    done
    scale_strace "qemu-$i" "$qfresh" qemu-img convert "${args[@]}" "$input" "$qemu_out"
    scale_strace "ours-$i" "$ofresh" "$DI" convert "${args[@]}" "$input" "$ours_out"

    verdict="identical"
    local who o
    for who in qemu ours; do
      o="$sdir/$who.$out"
      if ! qemu-img compare -q -f "$in" -F "$out" "$input" "$o" >/dev/null 2>&1; then
        verdict="$who DIFFERS"; failures=$((failures + 1))
      fi
      if [ "$out" = qcow2 ] && ! qemu-img check -q "$o" >/dev/null 2>&1; then
        verdict="$verdict, $who CHECK FAILED"; failures=$((failures + 1))
      fi
    done
    [ "$out" = qcow2 ] && verdict="$verdict, check clean"
    rows+=("$label|$wt|$ct|$(median "$sdir/qemu-$i.times" 1)|$(median "$sdir/ours-$i.times" 1)|$(median "$sdir/qemu-$i.times" 2)|$(median "$sdir/ours-$i.times" 2)|$(peak "$sdir/qemu-$i.times")|$(peak "$sdir/ours-$i.times")|$(cat "$sdir/qemu-$i.sys")|$(cat "$sdir/ours-$i.sys")|$verdict")
    rm -f "$ours_out" "$qemu_out"
  done

  sec() { awk -v v="$1" 'BEGIN { printf "%.2f", v / 1000 }'; }
  echo
  printf '%-20s | %8s %8s %5s %4s | %8s %8s %5s %4s | %5s %5s | %s\n' case "qemu" ours ratio "" "qemu CPU" "ours CPU" ratio "" "qRSS" "oRSS" "judged by qemu-img"
  local row q o qc oc qr orss qsys osys wr cr wok cok
  for row in "${rows[@]}"; do
    IFS='|' read -r label wt ct q o qc oc qr orss qsys osys verdict <<<"$row"
    wr=$(awk -v o="$o" -v q="$q" 'BEGIN { printf "%.2f", (q > 0 ? o / q : 0) }')
    cr=$(awk -v o="$oc" -v q="$qc" 'BEGIN { printf "%.2f", (q > 0 ? o / q : 0) }')
    wok=$(awk -v r="$wr" -v t="$wt" 'BEGIN { print (r <= t ? "ok" : "MISS") }')
    cok="-"; [ "$ct" = - ] || cok=$(awk -v r="$cr" -v t="$ct" 'BEGIN { print (r <= t ? "ok" : "MISS") }')
    [ "$orss" -le $((64 * 1024)) ] || verdict="$verdict; RSS over 64 MiB"
    printf '%-20s | %6s s %6s s %5s %4s | %6s s %6s s %5s %4s | %3d M %3d M | %s\n' "$label" "$(sec "$q")" "$(sec "$o")" "$wr" "$wok" \
      "$(sec "$qc")" "$(sec "$oc")" "$cr" "$cok" $((qr / 1024)) $((orss / 1024)) "$verdict"
  done
  echo
  printf '%-20s | %28s | %28s\n' "syscalls (strace -c -f)" "qemu-img: total writes trunc futex" "ours: total writes trunc futex"
  for row in "${rows[@]}"; do
    IFS='|' read -r label wt ct q o qc oc qr orss qsys osys verdict <<<"$row"
    printf '%-23s | %28s | %28s\n' "$label" "$qsys" "$osys"
  done
  echo
  echo "input: $virt_size_mib MiB sparse raw, $data_mib MiB data (--scale-gib $scale_gib); wall and CPU (user+sys): medians of $RUNS alternating runs, sync before each, page cache warm${prio_note:+, $prio_note}; RSS: peak over the runs"
  echo "writes = pwrite*/write/writev calls, trunc = ftruncate/fallocate calls, from one extra run per tool; $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  if [ "$failures" -gt 0 ]; then die "$failures output(s) failed qemu-img's judgement"; fi
  return 0
}
