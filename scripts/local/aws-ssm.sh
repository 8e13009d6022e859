#!/bin/bash
# Stand-in for `aws ssm get-parameter` on a local member: serves the member's own parameters, its keys
# (SecureString) and certificates (String), and nothing else from /run/local-ssm, one file per parameter named by the SHA-256 of its name.
set -euo pipefail

die() { echo "aws (local stand-in): $*" >&2; exit 255; }

[[ "${1:-}" == ssm && "${2:-}" == get-parameter ]] || die "only 'ssm get-parameter' is available, got: $*"
shift 2
name="" decrypt=0 query="" output=json
while (($#)); do
  case "$1" in
    --name) name=$2; shift 2 ;;
    --with-decryption) decrypt=1; shift ;;
    --query) query=$2; shift 2 ;;
    --output) output=$2; shift 2 ;;
    --region) shift 2 ;;
    *) die "unsupported option $1" ;;
  esac
done
[[ -n "$name" ]] || die "--name is required"
[[ "$query" == Parameter.Value && "$output" == text ]] || die "only --query Parameter.Value --output text is available"
((decrypt == 1)) || die "SecureString parameter $name needs --with-decryption"
file=/run/local-ssm/$(printf '%s' "$name" | sha256sum | cut -d' ' -f1)
[[ -f "$file" ]] || {
  echo "An error occurred (ParameterNotFound) when calling the GetParameter operation: $name" >&2
  exit 254
}
cat "$file"
