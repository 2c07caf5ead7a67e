#!/usr/bin/env bash
# Run a command against a real, headless Secret Service: gnome-keyring, unlocked with a random
# password, on a private D-Bus session bus that can auto-start nothing.
#
#   usage: tests/secret_service.sh CMD...
#   e.g.:  bash tests/secret_service.sh .venv/bin/python -m pytest -m secret_service
#
# Without gnome-keyring, dbus-run-session or secret-tool, CMD runs as-is (the tests then skip
# themselves with a reason), unless MCP_SECRET_SERVICE_REQUIRED=1 (CI sets it): then that is a
# failure. CMD's exit code is propagated; pytest's 5 (no tests collected) counts as success.
set -euo pipefail

if [[ $# -eq 0 ]]; then
    echo "usage: tests/secret_service.sh CMD..." >&2
    exit 2
fi

_run() {
    local rc=0
    "$@" || rc=$?
    if [[ $rc -eq 5 ]]; then
        rc=0
    fi
    return "$rc"
}

if [[ "${_MCP_SECRET_SERVICE_BUS:-}" != 1 ]]; then
    for tool in gnome-keyring-daemon dbus-run-session dbus-send secret-tool; do
        if ! command -v "$tool" >/dev/null 2>&1; then
            if [[ "${MCP_SECRET_SERVICE_REQUIRED:-}" == 1 ]]; then
                echo "secret_service: $tool not found, and MCP_SECRET_SERVICE_REQUIRED=1" >&2
                exit 1
            fi
            echo "secret_service: gnome-keyring not installed; skipping the Secret Service job" >&2
            _run "$@"
            exit 0
        fi
    done
    bus_dir=$(mktemp -d)
    trap 'rm -rf "$bus_dir"' EXIT
    chmod 700 "$bus_dir"
    # No <servicedir>: if the daemon dies, clients get a clean "no keyring" instead of the
    # stock bus auto-starting a locked daemon behind their back.
    cat >"$bus_dir/session.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <keep_umask/>
  <listen>unix:dir=$bus_dir</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
EOF
    rc=0
    _MCP_SECRET_SERVICE_BUS=1 dbus-run-session --config-file="$bus_dir/session.conf" \
        -- bash "${BASH_SOURCE[0]}" "$@" || rc=$?
    exit "$rc"
fi

# Inside the private bus: start the daemon, prove it stores and returns a value, run CMD.
unset _MCP_SECRET_SERVICE_BUS
runtime_dir=$(mktemp -d)
data_dir=$(mktemp -d)
chmod 700 "$runtime_dir" "$data_dir"
daemon_pid=""
cleanup() {
    if [[ -n "$daemon_pid" ]]; then
        kill "$daemon_pid" 2>/dev/null || true
        wait "$daemon_pid" 2>/dev/null || true
    fi
    rm -rf "$runtime_dir" "$data_dir"
}
trap cleanup EXIT
export XDG_RUNTIME_DIR="$runtime_dir" XDG_DATA_HOME="$data_dir"

fail() {
    echo "secret_service: $1" >&2
    if [[ -s "$runtime_dir/daemon.log" ]]; then
        sed 's/^/secret_service: daemon: /' "$runtime_dir/daemon.log" >&2
    fi
    exit 1
}

password=$(head -c 24 /dev/urandom | base64)
gnome-keyring-daemon --foreground --unlock --components=secrets \
    <<<"$password" >"$runtime_dir/daemon.log" 2>&1 &
daemon_pid=$!
unset password

owned=""
for _ in $(seq 200); do
    if dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
        org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null |
        grep -q "boolean true"; then
        owned=1
        break
    fi
    kill -0 "$daemon_pid" 2>/dev/null || fail "gnome-keyring-daemon exited during start-up"
    sleep 0.05
done
[[ -n "$owned" ]] || fail "gnome-keyring-daemon did not claim org.freedesktop.secrets within 10 s"

# `--unlock` exits 0 even when the collection stays locked: only a round trip proves it works.
probe=$(head -c 12 /dev/urandom | base64)
printf '%s' "$probe" | secret-tool store --label=mcp-vault-probe mcp-vault-probe 1 ||
    fail "cannot store a value in the Secret Service (collection locked?)"
[[ "$(secret-tool lookup mcp-vault-probe 1)" == "$probe" ]] ||
    fail "the Secret Service did not return the value just stored"
secret-tool clear mcp-vault-probe 1 || fail "cannot delete a value from the Secret Service"

export PYTHON_KEYRING_BACKEND=keyring.backends.SecretService.Keyring
export MCP_TEST_KEEP_KEYRING_BACKEND=1
rc=0
_run "$@" || rc=$?
exit "$rc"
