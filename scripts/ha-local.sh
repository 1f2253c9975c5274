#!/usr/bin/env bash
# Try high availability on one machine: a local etcd, three masters and one agent on loopback.
#   bash scripts/ha-local.sh [DATA_DIR]        (default ./.drover-ha; needs etcd: apt-get install etcd-server)
# Masters: http://127.0.0.1:5050, :5060, :5070 (any of them answers: standbys redirect to the leader).
# Try a failover:  curl -X DELETE localhost:5050/v2/leader   (the leader abdicates)
#             or:  kill -9 the leader's pid (printed below); another takes over within ~2 s.
# Ctrl-C stops everything (tasks keep running in the agent's work dir, as after any agent stop).
set -euo pipefail
cd "$(dirname "$0")/.."
data=$(realpath -m "${1:-./.drover-ha}")
mkdir -p "$data"
command -v etcd >/dev/null || { echo "etcd is not installed: apt-get install etcd-server" >&2; exit 1; }
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

etcd --name drover-ha --data-dir "$data/etcd" --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 --initial-cluster drover-ha=http://127.0.0.1:2380 \
  --auto-compaction-mode=revision --auto-compaction-retention=10000 >"$data/etcd.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do curl -fs http://127.0.0.1:2379/health >/dev/null 2>&1 && break; sleep 0.2; done

masters=()
for port in 5050 5060 5070; do
  node bin/drover.cjs master --store etcd://127.0.0.1:2379 --port "$port" >"$data/master-$port.log" 2>&1 &
  pids+=($!)
  masters+=("http://127.0.0.1:$port")
  echo "master on :$port, pid $!, log $data/master-$port.log"
done
sleep 2
node bin/drover.cjs agent --master "$(IFS=,; echo "${masters[*]}")" --port 5051 --work-dir "$data/agent" >"$data/agent.log" 2>&1 &
pids+=($!)
echo "agent on :5051, pid $!, log $data/agent.log"
for _ in $(seq 50); do leader=$(curl -fs http://127.0.0.1:5050/v2/leader 2>/dev/null) && break; sleep 0.2; done
echo "leader: ${leader:-none yet}"
wait
