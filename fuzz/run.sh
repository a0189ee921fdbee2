#!/bin/sh
# Runs the libFuzzer targets one after the other for a bounded time and
# prints one line per target. Used by `make fuzz`; by hand:
#
#   fuzz/run.sh <build dir> <total seconds> <target>...
#
# Each target runs for <total seconds>/<number of targets> seconds on a work
# corpus in <build dir>/corpus/<target>: the committed seeds of
# fuzz/corpus/<target> are copied into it first (the committed corpus is
# never written), and what earlier runs found there is kept. A crash, an
# ASan/UBSan/LeakSanitizer report or a failed check stops that target, leaves
# the reproducer in <build dir>/artifacts/<target>/ and makes the script exit
# 1 once every target has run.
set -u
build=$1 total=$2
shift 2
n=$#
[ "$n" -gt 0 ] || { echo "fuzz/run.sh: no targets" >&2; exit 2; }
secs=$((total / n))
[ "$secs" -ge 1 ] || secs=1
here=$(cd "$(dirname "$0")" && pwd)
failed=0

for t in "$@"; do
  bin=$build/$t corpus=$build/corpus/$t art=$build/artifacts/$t/ log=$build/logs/$t.log
  mkdir -p "$corpus" "$art" "$build/logs"
  cp "$here/corpus/$t/"* "$corpus/" 2>/dev/null
  case $t in vector_*) dict=$here/vector.dict ;; *) dict=$here/json.dict ;; esac
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
      -dict="$dict" -artifact_prefix="$art" -print_final_stats=1 ${FUZZ_FLAGS:-} \
      "$corpus" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
  cov=$(printf '%s\n' "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
  ft=$(printf '%s\n' "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')
  corp=$(printf '%s\n' "$last" | sed -n 's/.* corp: \([0-9]*\).*/\1/p')
  if [ "$rc" -eq 0 ]; then
    printf 'fuzz %-16s ok     %4ss  execs %-9s (%s/s)  cov %-5s ft %-6s corpus %s\n' \
      "$t" "$secs" "${execs:-?}" "${speed:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}"
  else
    failed=1
    unit=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    printf 'fuzz %-16s FAILED (exit %s) after %s execs; reproducer: %s; log: %s\n' \
      "$t" "$rc" "${execs:-?}" "${unit:-none}" "$log"
    grep -E '==fuzz==|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|SUMMARY|^ *#[0-9]+ ' "$log" \
      | grep -v -E 'in (fuzzer::|__sanitizer|__interceptor|__pthread|raise |abort |main |_start )|libc\.so|__libc_start' \
      | head -n 24 | sed -e 's/ (BuildId: [0-9a-f]*)//' -e 's/^ */    /'
    [ -n "$unit" ] && echo "    replay: $bin $unit"
  fi
done
exit $failed
