#!/bin/sh
# Install Mesa's software Vulkan driver (lavapipe) into a private folder, without changing the
# system: ManiSkill3/SAPIEN need Vulkan even for state observations, and Debian 12's own
# lavapipe (Mesa 22) is too old ("failed to find a rendering device"); Mesa 25 from Debian's
# bookworm-backports works. The package is downloaded with apt-get into a temporary state dir
# and unpacked with dpkg-deb; an ICD file pointing at it is written to
#   $DEST/lvp_icd.json      (DEST defaults to .venv/share/embodied-rl/vulkan)
# which embodied_rl.envs.maniskill finds and sets as VK_ICD_FILENAMES.
# Usage: scripts/install_lavapipe.sh [DEST]
set -eu
DEST=${1:-.venv/share/embodied-rl/vulkan}
ICD="$DEST/lvp_icd.json"
if [ -f "$ICD" ]; then exit 0; fi
if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
  echo "note: no apt-get/dpkg-deb here; install a Vulkan driver yourself (Mesa >= 24 lavapipe or your GPU's) for ManiSkill" >&2
  exit 0
fi
. /etc/os-release
case "${VERSION_CODENAME:-}" in
  bookworm) SUITE=bookworm-backports ;;
  *) SUITE=${VERSION_CODENAME:-stable} ;;
esac
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/lists/partial" "$WORK/cache/archives/partial" "$WORK/state"
touch "$WORK/state/status"
echo "deb http://deb.debian.org/debian $SUITE main" > "$WORK/sources.list"
OPTS="-o Dir::Etc::SourceList=$WORK/sources.list -o Dir::Etc::SourceParts=/dev/null \
 -o Dir::State=$WORK/state -o Dir::State::Lists=$WORK/lists -o Dir::Cache=$WORK/cache \
 -o Acquire::Retries=2 -o APT::Sandbox::User=root"
echo "installing Mesa lavapipe (software Vulkan) from Debian $SUITE into $DEST"
# shellcheck disable=SC2086
if ! apt-get $OPTS update -qq || ! (cd "$WORK" && apt-get $OPTS download "mesa-vulkan-drivers/$SUITE" >/dev/null); then
  echo "warning: could not download mesa-vulkan-drivers from $SUITE; ManiSkill tests will be skipped" >&2
  exit 0
fi
mkdir -p "$DEST"
dpkg-deb -x "$WORK"/mesa-vulkan-drivers_*.deb "$DEST/root"
LIB=$(find "$(cd "$DEST" && pwd)/root" -name libvulkan_lvp.so | head -1)
if [ -z "$LIB" ]; then echo "warning: libvulkan_lvp.so not found in the package" >&2; exit 0; fi
MISSING=$(ldd "$LIB" | awk '/not found/ {print $1}')
if [ -n "$MISSING" ]; then
  echo "warning: lavapipe needs libraries this system lacks: $MISSING (apt-get install the packages providing them)" >&2
fi
API=$(sed -n 's/.*"api_version": *"\([^"]*\)".*/\1/p' "$DEST"/root/usr/share/vulkan/icd.d/lvp_icd*.json | head -1)
printf '{"file_format_version": "1.0.0", "ICD": {"library_path": "%s", "api_version": "%s"}}\n' "$LIB" "${API:-1.3.0}" > "$ICD"
echo "wrote $ICD"
