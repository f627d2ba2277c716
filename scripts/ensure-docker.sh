#!/usr/bin/env bash
# Make sure a Docker daemon answers, and debootstrap is there for the offline image build.
# On a Debian machine where we are root, install docker.io/debootstrap and start dockerd;
# elsewhere say what to do.
set -euo pipefail

have_daemon() { docker info >/dev/null 2>&1; }
is_debian_root() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }

missing=()
command -v docker >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  if is_debian_root; then
    echo "ensure-docker: installing ${missing[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq "${missing[@]}" >/dev/null
  elif [[ " ${missing[*]} " == *" docker.io "* ]]; then
    echo "ensure-docker: Docker is not installed. Install Docker Engine (Debian/Ubuntu: sudo apt-get install docker.io) and run make again." >&2
    exit 1
  fi
fi

if have_daemon; then
  exit 0
fi
if is_debian_root && command -v dockerd >/dev/null 2>&1; then
  echo "ensure-docker: starting dockerd in the background (log: /var/log/codemend-dockerd.log)"
  nohup dockerd >/var/log/codemend-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    have_daemon && exit 0
    sleep 1
  done
  echo "ensure-docker: dockerd did not come up in 60 s; see /var/log/codemend-dockerd.log" >&2
  exit 1
fi
echo "ensure-docker: no Docker daemon answers. Start it (sudo systemctl start docker) or set DOCKER_HOST, then run make again." >&2
exit 1
