# Shared by scripts/test and scripts/demo (sourced, not run): what a stock Debian or
# Ubuntu machine with only python3 needs before the project can run there.
#
#   apt_ensure PACKAGE ...           install those of Debian's PACKAGEs not installed yet
#   venv_python EXTRAS               create or reuse .venv in the checkout, install the
#                                    project with EXTRAS there, print its python
#
# The venv is made with the first python3 on PATH (Debian's, an active virtual
# environment's, pyenv's shim), or with $JB_PYTHON if set. venv_python runs in a command
# substitution, where bash drops `set -e`: each step that can fail says so (|| return).
#
# Why a virtual environment of our own: Debian's python3 refuses `pip install` outside
# one (PEP 668), and a venv per checkout keeps two checkouts (git worktrees) from
# importing each other's code through one editable install.

_sudo() {
  if [ "$(id -u)" -ne 0 ]; then sudo "$@"; else "$@"; fi
}

_apt_updated=""
apt_install() {
  if [ -z "$_apt_updated" ]; then
    _sudo apt-get update -qq || return 1
    _apt_updated=1
  fi
  # Through env: sudo drops the environment (env_reset), and with it DEBIAN_FRONTEND.
  _sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

apt_ensure() {
  local missing=() package
  for package in "$@"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'ok installed' ||
      missing+=("$package")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    apt_install "${missing[@]}"
  fi
}

venv_python() {
  local extras="$1" base="${JB_PYTHON:-python3}"
  if ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
    command -v "$base" >/dev/null 2>&1 || {
      echo "needs $base (Python 3.10 or newer): apt-get install python3" >&2
      return 1
    }
    "$base" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || {
      echo "needs Python 3.10 or newer; $base is $("$base" --version 2>&1)" >&2
      return 1
    }
    # Debian splits venv's pip bootstrap into python3-venv (python3.X-venv).
    if ! "$base" -c 'import ensurepip, venv' 2>/dev/null; then
      apt_install python3-venv >&2 || return 1
    fi
    rm -rf .venv
    # Not --upgrade-deps: that asks PyPI for pip at every new venv; the bundled pip works.
    "$base" -m venv .venv >&2 || return 1
  fi
  # ".[]" is no valid requirement to Debian 12's pip (23.0): no brackets without extras.
  local project=.
  if [ -n "$extras" ]; then project=".[$extras]"; fi
  .venv/bin/python -m pip install -q --disable-pip-version-check -e "$project" >&2 || {
    echo "installing the project into .venv failed (see above)" >&2
    return 1
  }
  echo "$PWD/.venv/bin/python"
}
