// Calls a ConcertMaster webhook with a signed body, using Node's crypto and fetch (Node 18 or later).
//   CM_WEBHOOK_URL=https://… CM_WEBHOOK_SECRET=whsec_… node sign.js '{"service":"api"}'
// The signature is HMAC-SHA256 over "<unix seconds>.<raw body>", keyed with the whole whsec_… string.
const crypto = require("node:crypto");

const url = process.env.CM_WEBHOOK_URL;
const secret = process.env.CM_WEBHOOK_SECRET;
const body = process.argv[2] ?? '{"service":"api","version":"1.2.3","user":"ada"}';

const t = Math.floor(Date.now() / 1000).toString();
const sig = crypto.createHmac("sha256", secret).update(`${t}.${body}`).digest("hex");

fetch(url, {
  method: "POST",
  headers: { "Content-Type": "application/json", "X-ConcertMaster-Signature": `t=${t},v1=${sig}` },
  body, // a string: sent as exactly the bytes signed
}).then(async (res) => {
  console.log(await res.text());
  console.log(`HTTP ${res.status}`);
  process.exitCode = res.ok ? 0 : 1;
}).catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
