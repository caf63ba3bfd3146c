#!/usr/bin/env bash
# The full schemathesis run of issue 13 against a real `cardio-cloud serve` (not part of CI:
# CI runs tests/cloud/test_fuzz.py and tests/security/test_schemathesis_smoke.py).
#
#   bash tests/security/schemathesis_full.sh [MAX_EXAMPLES]      # default 3000
#
# Every check, every phase (examples, coverage, fuzzing, stateful); exit status 0 = nothing found.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python}
ST=${SCHEMATHESIS:-schemathesis}
N=${1:-3000}
DATA=$(mktemp -d)
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
TOKEN=$(PYTHONPATH=$PWD $PY -m cloud.cli token create schemathesis --data "$DATA")
PYTHONPATH=$PWD $PY -m cloud.cli serve --port "$PORT" --data "$DATA" --workers 1 --rate 100000 --burst 100000 \
  >"$DATA/serve.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done
"$ST" --config-file tests/security/schemathesis.toml run "http://127.0.0.1:$PORT/openapi.json" --checks all --phases "${PHASES:-examples,coverage,fuzzing,stateful}" \
  --max-examples "$N" -H "Authorization: Bearer $TOKEN" --workers 1 --seed 13 --no-color --request-timeout 60 \
  --report junit,ndjson --report-dir "${REPORT_DIR:-$DATA/report}"
status=$?
echo "server log: $DATA/serve.log (5xx lines: $(grep -c ' 5[0-9][0-9] ' "$DATA/serve.log" || true))"
exit $status
