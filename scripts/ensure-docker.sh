#!/usr/bin/env bash
# Make sure a Docker daemon answers, and that debootstrap is there for the offline image build.
#
# Decided on the daemon, never on the client alone: a machine may ship the `docker` client
# without the engine. So:
#   1. a daemon that answers `docker info` (local, or DOCKER_HOST) -> nothing to start;
#   2. otherwise the engine binary `dockerd` must be there: on a Debian machine where we are
#      root, `apt-get install docker.io` provides it (and the client), then dockerd is started
#      in the background and waited for; elsewhere, say what to install;
#   3. debootstrap (for the air-gapped image build) is installed the same way when missing.
# Settings for tests and unusual hosts: CODEMEND_DOCKERD_LOG (default
# /var/log/codemend-dockerd.log), CODEMEND_DOCKERD_WAIT (seconds, default 60).
set -euo pipefail

LOG=${CODEMEND_DOCKERD_LOG:-/var/log/codemend-dockerd.log}
WAIT=${CODEMEND_DOCKERD_WAIT:-60}

say() { echo "ensure-docker: $*"; }
die() { echo "ensure-docker: $*" >&2; exit 1; }
daemon_answers() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }
is_debian_root() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }

apt_install() {
  say "installing $* with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "$@" >/dev/null
}

missing=()
if ! daemon_answers; then
  # no daemon answers: we need the engine (dockerd) and a client to talk to it
  if ! command -v dockerd >/dev/null 2>&1 || ! command -v docker >/dev/null 2>&1; then
    missing+=(docker.io)
  fi
fi
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)

if [ ${#missing[@]} -gt 0 ]; then
  if is_debian_root; then
    apt_install "${missing[@]}"
  elif [[ " ${missing[*]} " == *" docker.io "* ]]; then
    if command -v docker >/dev/null 2>&1; then
      die "a docker client is installed but no Docker engine (dockerd) and no daemon answers. Install the engine (Debian/Ubuntu: sudo apt-get install docker.io), start it, then run make again."
    fi
    die "Docker is not installed. Install Docker Engine (Debian/Ubuntu: sudo apt-get install docker.io) and run make again."
  else
    say "debootstrap is missing: the offline image build needs it (sudo apt-get install debootstrap)" >&2
  fi
fi

if daemon_answers; then
  exit 0
fi
command -v dockerd >/dev/null 2>&1 || die "the Docker engine (dockerd) is still missing after the install; install Docker Engine by hand."
if [ "$(id -u)" != 0 ]; then
  die "dockerd is installed but no daemon answers. Start it (sudo systemctl start docker, or sudo dockerd &) or set DOCKER_HOST, then run make again."
fi
say "starting dockerd in the background (log: $LOG)"
nohup dockerd >"$LOG" 2>&1 &
for _ in $(seq 1 "$WAIT"); do
  daemon_answers && { say "the Docker daemon answers"; exit 0; }
  sleep 1
done
die "dockerd did not answer within $WAIT s; see $LOG"
