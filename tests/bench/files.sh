#!/usr/bin/env bash
# make bench-files: the a3 keyed file transfer and the a5 accio receiver,
# each next to ncat measured in the same run.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bash "$here/file-transfer.sh"
bash "$here/accio.sh"
