#!/usr/bin/env bash
# Installs what Vimana needs on a fresh Debian machine, only when missing.
#   tools/install-deps.sh build   libyaml-dev, zlib1g-dev (to build and run)
#   tools/install-deps.sh test    the above plus redis-server, redis-tools,
#                                 netcat-openbsd, beanstalkd (the task bench's
#                                 peer), stunnel4 and openssl (the TLS test,
#                                 docs/OPERATIONS.md), iproute2 (protected
#                                 mode's test sets up a network namespace),
#                                 systemd (systemd-analyze and systemd-sysusers:
#                                 the unit in tools/systemd is verified),
#                                 nodejs (when no `node` is on PATH),
#                                 ruby-redis (redis-rb and ruby: the third
#                                 client of tools/compat/redis_rb_compat.rb)
#                                 and python3's redis package
set -euo pipefail

mode="${1:-build}"
packages=(libyaml-dev zlib1g-dev)
if [ "$mode" = "test" ]; then
    packages+=(redis-server redis-tools netcat-openbsd beanstalkd stunnel4 openssl iproute2 systemd ruby-redis)
    # The example agents include one in Node; any node on PATH will do.
    command -v node >/dev/null || packages+=(nodejs)
fi

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ "${#missing[@]}" -gt 0 ]; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null; then sudo="sudo"; else
            echo "install-deps: need root to install: ${missing[*]}" >&2
            exit 1
        fi
    fi
    echo "install-deps: installing ${missing[*]}"
    # The image's policy-rc.d keeps apt from starting redis-server as a daemon.
    export DEBIAN_FRONTEND=noninteractive
    if ! $sudo apt-get install -y -q "${missing[@]}" >/tmp/vimana-apt.log 2>&1; then
        $sudo apt-get update -q >/tmp/vimana-apt-update.log 2>&1
        $sudo apt-get install -y -q "${missing[@]}" >/tmp/vimana-apt.log 2>&1 || {
            cat /tmp/vimana-apt.log >&2
            exit 1
        }
    fi
fi

if [ "$mode" = "test" ]; then
    if ! python3 -c "import redis" 2>/dev/null; then
        echo "install-deps: installing python package redis"
        python3 -m pip install -q redis 2>/dev/null \
            || python3 -m pip install -q --break-system-packages redis
    fi
fi
