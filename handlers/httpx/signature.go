package httpx

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"
)

// Webhook calls are signed: the scheme is shared by the public webhook route that checks signatures, the API and
// pages that show a webhook's header, and senders (tests, examples).

// SignatureHeader carries a webhook call's signature: "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t.body)>". A
// sender rotating secrets may send several v1 values.
const SignatureHeader = "X-ConcertMaster-Signature"

// Sign is the webhook signature of body at unix time t: HMAC-SHA256(secret, "<t>.<body>").
func Sign(secret []byte, t int64, body []byte) []byte {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(strconv.FormatInt(t, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return mac.Sum(nil)
}

// SignatureValue formats the X-ConcertMaster-Signature header value for body, for senders and tests.
func SignatureValue(secret string, t time.Time, body []byte) string {
	return "t=" + strconv.FormatInt(t.Unix(), 10) + ",v1=" + hex.EncodeToString(Sign([]byte(secret), t.Unix(), body))
}
