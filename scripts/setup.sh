# What both of the README's commands need, sourced by scripts/demo and scripts/test.

# graphviz's `dot` program draws the graph pictures: apt-get it when we may (root).
install_graphviz() {
    command -v dot >/dev/null 2>&1 && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && apt-get install -y -qq graphviz >/dev/null
    else
        return 1
    fi
}

# uv makes the environments. Where the system's Python refuses pip installs (Debian and
# Ubuntu mark it externally managed), uv goes into the user's own folder (~/.local/bin).
if ! command -v uv >/dev/null 2>&1; then
    export PATH="$HOME/.local/bin:$PATH"
    command -v uv >/dev/null 2>&1 || python3 -m pip install -q uv 2>/dev/null \
        || python3 -m pip install -q --user --break-system-packages uv \
        || { echo "could not install uv with pip; install it as https://docs.astral.sh/uv/ says" >&2; exit 1; }
fi
