#!/usr/bin/env bash
# Builds bin/pyhost.
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/pyhost ./cmd/pyhost
