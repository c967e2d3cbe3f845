#!/usr/bin/env bash
# Install Debian's Chromium: tests/test_report.py opens report.html in it headlessly and checks the
# screenshot (the test is skipped, with this script named as the reason, when chromium is absent).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    echo "install_chromium: $(chromium --version 2>/dev/null || echo chromium) already installed"
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
$SUDO apt-get update -q
$SUDO apt-get install -y -q chromium
echo "install_chromium: $(chromium --version 2>/dev/null)"
