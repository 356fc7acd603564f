#!/usr/bin/env bash
# Compares parley_bench binaries (two builds of different commits, say) on
# single trials, interleaved so that each round runs every binary and mode
# within a few seconds of the others; prints each binary's median msg/s and
# CPU µs per message (both ends, all threads: steadier than msg/s on a
# noisy guest) per mode and, per round, the ratio of each later mode's
# msg/s to the first's (the pairwise median: a slow minute slows both
# halves of a pair).
#
#   scripts/bench_ab.sh [--rounds=9] [--payload=64] [--messages=300000] \
#       [--modes=oneway,never] BIN...
#
# Build a second binary from a worktree: git worktree add /tmp/old HEAD~1;
# cmake -S /tmp/old -B /tmp/old-build -DCMAKE_BUILD_TYPE=Release
# -DPARLEY_BUILD_TESTS=OFF -DPARLEY_BUILD_BENCH=ON; cmake --build
# /tmp/old-build --target parley_bench.
set -euo pipefail
rounds=9 payload=64 messages=300000 modes=oneway,never
bins=()
for arg in "$@"; do
  case "$arg" in
    --rounds=*) rounds="${arg#*=}" ;;
    --payload=*) payload="${arg#*=}" ;;
    --messages=*) messages="${arg#*=}" ;;
    --modes=*) modes="${arg#*=}" ;;
    -*) echo "unknown flag $arg" >&2; exit 2 ;;
    *) bins+=("$arg") ;;
  esac
done
if ((${#bins[@]} == 0)); then
  echo "usage: $0 [--rounds=N] [--payload=B] [--modes=a,b] BIN..." >&2
  exit 2
fi
IFS=, read -r -a mode_list <<<"$modes"
results="$(mktemp)"
trap 'rm -f "$results"' EXIT
for ((r = 1; r <= rounds; ++r)); do
  for i in "${!bins[@]}"; do
    for m in "${mode_list[@]}"; do
      line="$("${bins[$i]}" trial "$m" "$payload" "$messages")"
      rate="$(grep -o '[0-9]* msg/s' <<<"$line" | cut -d' ' -f1)"
      cpu="$(grep -o '[0-9.]* us CPU/msg' <<<"$line" | cut -d' ' -f1 || true)"
      cpu="${cpu:-nan}"  # a binary built before 46fbbdb prints no CPU
      echo "$r $i $m $rate $cpu" >>"$results"
    done
  done
done
python3 - "$results" "$modes" "${bins[@]}" <<'EOF'
import statistics, sys
path, modes, bins = sys.argv[1], sys.argv[2].split(","), sys.argv[3:]
rate, cpu = {}, {}
for line in open(path):
    r, i, m, v, c = line.split()
    rate[(int(r), int(i), m)] = int(v)
    cpu[(int(r), int(i), m)] = float(c)
rounds = sorted({k[0] for k in rate})
for i, b in enumerate(bins):
    medians = [f"{m} {statistics.median(rate[(r, i, m)] for r in rounds):.0f}"
               f" ({statistics.median(cpu[(r, i, m)] for r in rounds):.3f} µs)"
               for m in modes]
    pairs = [f"{m}/{modes[0]} " + format(statistics.median(
                 rate[(r, i, m)] / rate[(r, i, modes[0])] for r in rounds),
                 ".2f") for m in modes[1:]]
    print(f"{b} ({len(rounds)} rounds): msg/s (CPU/msg) " + ", ".join(medians) +
          ("; pairwise " + ", ".join(pairs) if pairs else ""))
EOF
