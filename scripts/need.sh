# Sourced by the scripts that run other programs: one way to say what is missing.
#   need PACKAGE PROGRAM...  records each PROGRAM (a name on PATH, or an absolute path) that is
#                            not there, with the package that brings it;
#   need_check WHO           then stops with one line naming every missing program and its
#                            package (scripts/install-deps installs them all), exit status 1.
# NEED_PATH: more folders to look in (the VM's PATH, which has sbin).

NEED_MISSING=()

need() {
    local pkg=$1 p
    shift
    for p in "$@"; do
        if [[ $p == /* ]]; then
            [[ -x $p ]]
        else
            PATH=$PATH${NEED_PATH:+:$NEED_PATH} command -v "$p" >/dev/null 2>&1
        fi || NEED_MISSING+=("$p (package $pkg)")
    done
}

need_check() {
    ((${#NEED_MISSING[@]} == 0)) && return 0
    echo "$1: missing ${NEED_MISSING[*]}: run scripts/install-deps" >&2
    exit 1
}
