#!/usr/bin/env python3
"""Calls a ConcertMaster webhook with a signed body, using only the standard library.

    CM_WEBHOOK_URL=https://… CM_WEBHOOK_SECRET=whsec_… python3 sign.py '{"service":"api"}'

The signature is HMAC-SHA256 over "<unix seconds>.<raw body>", keyed with the whole whsec_… string.
"""
import hashlib
import hmac
import os
import sys
import time
import urllib.error
import urllib.request

url = os.environ["CM_WEBHOOK_URL"]
secret = os.environ["CM_WEBHOOK_SECRET"]
body = (sys.argv[1] if len(sys.argv) > 1 else '{"service":"api","version":"1.2.3","user":"ada"}').encode()

t = str(int(time.time()))
sig = hmac.new(secret.encode(), t.encode() + b"." + body, hashlib.sha256).hexdigest()
req = urllib.request.Request(url, data=body, method="POST", headers={
    "Content-Type": "application/json",
    "X-ConcertMaster-Signature": f"t={t},v1={sig}",
})
try:
    with urllib.request.urlopen(req, timeout=30) as resp:
        status, answer = resp.status, resp.read()
except urllib.error.HTTPError as e:
    status, answer = e.code, e.read()
print(answer.decode())
print(f"HTTP {status}")
sys.exit(0 if 200 <= status < 300 else 1)
