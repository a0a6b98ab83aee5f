// Command signing calls a ConcertMaster webhook with a signed body.
//
//	CM_WEBHOOK_URL=https://… CM_WEBHOOK_SECRET=whsec_… go run ./examples/signing '{"service":"api"}'
//
// The signature is HMAC-SHA256 over "<unix seconds>.<raw body>", keyed with the whole whsec_… string.
package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"
)

func main() {
	body := []byte(`{"service":"api","version":"1.2.3","user":"ada"}`)
	if len(os.Args) > 1 {
		body = []byte(os.Args[1])
	}
	t := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte(os.Getenv("CM_WEBHOOK_SECRET")))
	mac.Write([]byte(t + "."))
	mac.Write(body)
	sig := hex.EncodeToString(mac.Sum(nil))

	req, err := http.NewRequest(http.MethodPost, os.Getenv("CM_WEBHOOK_URL"), bytes.NewReader(body))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-ConcertMaster-Signature", "t="+t+",v1="+sig)
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	fmt.Println(string(answer))
	fmt.Println("HTTP", resp.StatusCode)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		os.Exit(1)
	}
}
