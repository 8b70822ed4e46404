#!/usr/bin/env bash
# A software Vulkan driver new enough for Dawn (the WebGPU engine inside the `webgpu` npm package), so
# that CI runs graft's WebGPU path on the CPU. Prints the exports that make Vulkan find it:
#
#   eval "$(.ci/get-lavapipe.sh [DIR])"
#
# Debian 12's own mesa-vulkan-drivers (lavapipe 22.3) lacks two features Dawn requires and gives no
# adapter; Mesa 25's from bookworm-backports does. Its packages are downloaded and unpacked into DIR
# (default $TMPDIR/lavapipe25) with a private apt state: /etc/apt and the installed packages stay as
# they are. Where the system's own Mesa is already ≥ 25 (Debian 13), it prints nothing: the system's
# driver is found without help.
#
# Needs: Debian with apt-get and dpkg, and `apt-get install mesa-vulkan-drivers` done (it brings the
# Vulkan loader libvulkan1 and the LLVM 15 that this lavapipe links to). A copy of
# ../shared/tools/get-lavapipe.sh, with the mirror read from either sources format and the multiarch
# directory not fixed to x86-64.
set -euo pipefail
DEST=${1:-${TMPDIR:-/tmp}/lavapipe25}

installed=$(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || true)
if [ -z "$installed" ]; then
  echo "get-lavapipe: mesa-vulkan-drivers is not installed (apt-get install mesa-vulkan-drivers)" >&2
  exit 1
fi
if [ "${installed%%.*}" -ge 25 ] 2>/dev/null; then
  echo "get-lavapipe: the system's Mesa $installed is new enough" >&2
  exit 0
fi

# The Debian mirror apt already uses (deb822 .sources or one-line .list format).
URI=$( { grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}';
         grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | sed 's/\[[^]]*\]//' | awk '{print $2}'; } |
       grep -v security | head -1 || true)
URI=${URI:-http://deb.debian.org/debian}
ARCH_DIR="$(uname -m)-linux-gnu"

mkdir -p "$DEST"/apt/{lists/partial,cache/archives/partial} "$DEST"/debs "$DEST"/root
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $URI bookworm-backports main" > "$DEST/apt/sources.list"
APTO=(-o Dir::Etc::SourceList="$DEST/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
      -o Dir::State::Lists="$DEST/apt/lists" -o Dir::Cache="$DEST/apt/cache" -o Debug::NoLocking=1)
# As root, apt downloads as the user _apt, who cannot write into DEST.
[ "$(id -u)" -ne 0 ] || APTO+=(-o APT::Sandbox::User=root)
apt-get "${APTO[@]}" update -qq >&2
(cd "$DEST/debs" && apt-get "${APTO[@]}" download mesa-vulkan-drivers libdrm2 libdrm-amdgpu1 >&2)
for d in "$DEST"/debs/*.deb; do dpkg -x "$d" "$DEST/root"; done
LIB="$DEST/root/usr/lib/$ARCH_DIR"
[ -f "$LIB/libvulkan_lvp.so" ] || { echo "get-lavapipe: no libvulkan_lvp.so in the downloaded packages" >&2; exit 1; }
printf '{"file_format_version":"1.0.0","ICD":{"library_path":"%s/libvulkan_lvp.so","api_version":"1.4.305"}}\n' "$LIB" > "$DEST/lvp_icd.json"
echo "export VK_ICD_FILENAMES=$DEST/lvp_icd.json LD_LIBRARY_PATH=$LIB\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
