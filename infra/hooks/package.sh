#!/bin/sh
# azd prepackage hook: builds the Linux release binary and assembles the Functions app with
# `keyrelay package` (host.json, one folder per function from function-defs/, the binary), then
# unpacks the zip into the folder azure.yaml names as `dist`, which azd zips and deploys.
#
# Run from the repository root (azd runs service hooks in the service's project directory, `.`).
set -eu

out_dir=.azure-package
app_dir="$out_dir/app"
zip_path="$out_dir/keyrelay-functions.zip"

cargo build --release --locked --bin keyrelay

rm -rf "$out_dir"
mkdir -p "$app_dir"
# The policy to ship as policy.toml beside host.json (KEYRELAY_POLICY's default): the azd
# environment's POLICY_FILE, else ./policy.toml if there is one.
policy="${POLICY_FILE:-policy.toml}"
if [ -f "$policy" ]; then
  ./target/release/keyrelay package --binary ./target/release/keyrelay --policy "$policy" --out "$zip_path"
else
  echo "package.sh: no policy file ($policy); the app starts with no credentials to rotate" >&2
  ./target/release/keyrelay package --binary ./target/release/keyrelay --out "$zip_path"
fi

if command -v unzip >/dev/null 2>&1; then
  unzip -q "$zip_path" -d "$app_dir"
else
  python3 -m zipfile -e "$zip_path" "$app_dir"
fi

# The package must hold what the Functions host needs; fail here rather than after deployment.
test -f "$app_dir/host.json" || { echo "package.sh: $zip_path has no host.json" >&2; exit 1; }
echo "package.sh: app assembled in $app_dir"
