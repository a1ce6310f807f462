# shellcheck shell=bash
# Sourced by the scripts that need a Debian package the machine may not have yet: CI
# starts from a clean machine, and each script installs what it uses, once.

# ensure_package COMMAND PACKAGE: installs PACKAGE with apt-get unless COMMAND is
# already on the PATH. Needs root; exits with 2 and one line naming the package if it
# cannot install it.
ensure_package() {
    local command=$1 package=$2
    command -v "$command" >/dev/null && return 0
    echo "== installing $package" >&2
    if [[ $(id -u) != 0 ]]; then
        echo "$package is missing and this is not root: install it (Debian: apt-get install $package) or run as root" >&2
        exit 2
    fi
    if ! command -v apt-get >/dev/null; then
        echo "$package is missing and there is no apt-get to install it" >&2
        exit 2
    fi
    export DEBIAN_FRONTEND=noninteractive
    if ! timeout 600 apt-get update -qq ||
        ! timeout 900 apt-get install -y -qq --no-install-recommends "$package" >/dev/null; then
        echo "apt-get install $package failed" >&2
        exit 2
    fi
    if ! command -v "$command" >/dev/null; then
        echo "$command is still missing after apt-get install $package" >&2
        exit 2
    fi
}
