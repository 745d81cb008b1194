#!/usr/bin/env bash
# Fresh Debian/Ubuntu machine to shipped models: set up the environments, then train and convert.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
bash scripts/build_models.sh
