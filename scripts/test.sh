#!/usr/bin/env bash
# The test command (README; .ci/run calls exactly this): install the test extras, make sure a
# headless Chromium is there for the report tests, run the whole suite. Arguments go to pytest.
#
# Needs network (PyPI, and for a missing browser: Playwright's download or the distribution's
# packages). Root, or sudo, only when the browser has to come from the distribution (apt-get).
# Run it in a virtual environment: pip installs the package there, editable.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-$(command -v python || command -v python3)}"

say() { echo "scripts/test.sh: $*" >&2; }

"$PYTHON" -m pip install -q -e ".[test]"

# A browser counts only if it starts (a downloaded one may lack system libraries).
works() { [ -n "${1:-}" ] && [ -x "$1" ] && timeout 60 "$1" --headless --version >/dev/null 2>&1; }

on_path() {
    local name
    for name in chromium chromium-browser google-chrome google-chrome-stable; do
        if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
    done
    return 1
}

playwright_browser() {
    timeout 600 "$PYTHON" -m playwright install chromium >/dev/null 2>&1 || return 0
    "$PYTHON" - <<'EOF' 2>/dev/null || true
from playwright.sync_api import sync_playwright

with sync_playwright() as p:
    print(p.chromium.executable_path)
EOF
}

distribution_browser() {
    command -v apt-get >/dev/null 2>&1 || return 0
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || { say "apt-get heeft root of sudo nodig"; return 0; }
        sudo=(sudo)
    fi
    "${sudo[@]}" apt-get update -qq >/dev/null
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
    # Where the package put it, also when that folder is not on this PATH.
    on_path || dpkg -L chromium 2>/dev/null | grep -m1 -E '/bin/chromium$' || true
}

# The report code (m365apk/reports/pdf.py) and the browser tests use M365APK_CHROMIUM first.
browser="${M365APK_CHROMIUM:-}"
works "$browser" || browser="$(on_path || true)"
if ! works "$browser"; then
    say "geen Chromium op PATH; Playwrights browser proberen"
    browser="$(playwright_browser)"
fi
if ! works "$browser"; then
    say "Playwrights browser niet beschikbaar; Chromium uit de distributie installeren"
    browser="$(distribution_browser)"
fi
if ! works "$browser"; then
    say "geen werkende headless Chromium gevonden of te installeren; de rapporttests falen zonder"
    exit 1
fi
say "Chromium: $browser"
export M365APK_CHROMIUM="$browser"

# pytest's own exit code is the script's: 0 all passed, 1 failures, 2-5 interrupted, internal
# error, usage error, nothing collected (all of which CI must treat as failed).
# One worker per core (M365APK_TEST_WORKERS overrides; 0 runs in this process), a test file
# per worker at a time, so a module's fixtures (demo scans) are made once.
exec "$PYTHON" -m pytest -n "${M365APK_TEST_WORKERS:-auto}" --dist loadfile "$@"
