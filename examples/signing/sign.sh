#!/bin/sh
# Calls a ConcertMaster webhook with a signed body, using openssl and curl.
#   CM_WEBHOOK_URL=https://… CM_WEBHOOK_SECRET=whsec_… ./sign.sh '{"service":"api"}'
# The signature is HMAC-SHA256 over "<unix seconds>.<raw body>", keyed with the whole whsec_… string.
set -eu
body=${1:-'{"service":"api","version":"1.2.3","user":"ada"}'}
t=$(date +%s)
# printf, not echo: the signed bytes must be exactly the bytes sent, without a trailing newline.
sig=$(printf '%s.%s' "$t" "$body" | openssl dgst -sha256 -hmac "$CM_WEBHOOK_SECRET" -hex | sed 's/^.* //')
curl -sS --fail-with-body -X POST "$CM_WEBHOOK_URL" \
  -H 'Content-Type: application/json' \
  -H "X-ConcertMaster-Signature: t=$t,v1=$sig" \
  --data-binary "$body" -w '\nHTTP %{http_code}\n'
