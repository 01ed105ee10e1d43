#!/usr/bin/env bash
# Carina's helm engine against its peer CLI: see bench/run-peer.sh.
exec "$(dirname "$0")/../run-peer.sh" helm "$@"
