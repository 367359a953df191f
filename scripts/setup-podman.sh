#!/usr/bin/env bash
# Podman for the container tests: Debian's packages, runc and this machine's limits (run as root).
set -euo pipefail
missing=()
for tool in podman buildah debootstrap runc podman-compose; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing ${missing[*]} from apt"
  (apt-get update -qq || true)
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
conf=/etc/containers/containers.conf
if [ ! -f "$conf" ]; then
  mkdir -p /etc/containers
  cat > "$conf" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
  echo "Wrote $conf"
fi
