#!/bin/bash
# Rewrites generated/ with protoc-gen-parley's output for every sample proto
# (samples/<x>/<x>.proto -> generated/<x>/<x>.parley.h/.cc); the golden test
# (ctest -R CodegenGoldenFiles) checks the same thing.
#
#   scripts/refresh_generated.sh [build-dir]   # default: build-codegen
#
# Builds the plugin in the build dir first (configuring it if needed).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-${root}/build-codegen}"

if [[ ! -f "${build}/CMakeCache.txt" ]]; then
  cmake -S "${root}" -B "${build}"
fi
cmake --build "${build}" --target protoc-gen-parley -j2
plugin="${build}/codegen/protoc-gen-parley"

rm -rf "${root}/generated"
shopt -s nullglob
for proto in "${root}"/samples/*/*.proto; do
  sample_dir="$(dirname "${proto}")"
  sample="$(basename "${sample_dir}")"
  out="${root}/generated/${sample}"
  mkdir -p "${out}"
  protoc --plugin=protoc-gen-parley="${plugin}" \
    -I "${root}/proto" -I "${sample_dir}" \
    --parley_out="${out}" "${proto}"
done
(cd "${root}" && find generated -type f | sort)
