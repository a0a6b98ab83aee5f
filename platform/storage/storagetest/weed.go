package storagetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/concertmaster/concertmaster/platform/storage"
)

// Weed is a real S3-compatible server for a test: SeaweedFS's `weed server -s3`, started from TEST_WEED on free
// ports in a temporary directory, with one bucket and one key pair of its own. It stops when the test ends.
type Weed struct {
	// Endpoint is host:port of the S3 API (plain HTTP).
	Endpoint string
	Bucket   string
	// AccessKey and SecretKey are the only identity the server accepts.
	AccessKey, SecretKey string
	// Client talks to the bucket directly, to check what the backend left there.
	Client *minio.Client
}

// weedTimeout bounds the server's start: master, volume, filer and S3 gateway come up one after the other, which
// takes long on a busy machine.
const weedTimeout = 2 * time.Minute

// StartWeed starts a SeaweedFS server for t. TEST_WEED names the binary; without it the test fails, as tests
// without TEST_DATABASE_URL or TEST_HELM do: `make test` builds weed once with deploy/dev/s3-env.sh.
func StartWeed(t testing.TB) *Weed {
	t.Helper()
	bin := os.Getenv("TEST_WEED")
	if bin == "" {
		t.Fatal("TEST_WEED is not set: make test builds SeaweedFS's weed once with deploy/dev/s3-env.sh " +
			"(eval \"$(deploy/dev/s3-env.sh)\")")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("TEST_WEED=%s: %v", bin, err)
	}
	w := &Weed{Bucket: "cm-test", AccessKey: "cmtest" + randomHex(6), SecretKey: randomHex(20)}
	dir := t.TempDir()
	config := filepath.Join(dir, "s3.json")
	identities := map[string]any{"identities": []map[string]any{{
		"name":        "concertmaster",
		"credentials": []map[string]string{{"accessKey": w.AccessKey, "secretKey": w.SecretKey}},
		"actions":     []string{"Admin", "Read", "Write", "List", "Tagging"},
	}}}
	b, _ := json.Marshal(identities)
	if err := os.WriteFile(config, b, 0o600); err != nil {
		t.Fatal(err)
	}
	// A port taken by another process between choosing it and weed binding it makes weed exit: try again then.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		if lastErr = w.start(t, bin, dir, config, attempt); lastErr == nil {
			return w
		}
	}
	t.Fatalf("storagetest: start weed: %v", lastErr)
	return nil
}

// start runs one weed server on fresh ports and waits until its bucket is made.
func (w *Weed) start(t testing.TB, bin, dir, config string, attempt int) error {
	ports := freePorts(t, 8)
	data := filepath.Join(dir, "data"+strconv.Itoa(attempt))
	if err := os.MkdirAll(data, 0o700); err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(dir, "weed"+strconv.Itoa(attempt)+".log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	p := func(i int) string { return strconv.Itoa(ports[i]) }
	cmd := exec.Command(bin, "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-dir="+data, "-s3",
		"-master.port="+p(0), "-master.port.grpc="+p(1), "-volume.port="+p(2), "-volume.port.grpc="+p(3),
		"-filer.port="+p(4), "-filer.port.grpc="+p(5), "-s3.port="+p(6), "-s3.port.grpc="+p(7),
		"-s3.port.iceberg=0", "-s3.port.lance=0", "-s3.config="+config, "-master.telemetry=false",
		"-master.volumeSizeLimitMB=64", "-volume.max=100",
		"-filer.localSocket="+filepath.Join(dir, "filer"+strconv.Itoa(attempt)+".sock"),
		"-s3.localSocket="+filepath.Join(dir, "s3"+strconv.Itoa(attempt)+".sock"))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// SSE-S3 needs the server's key-encryption key (a random one per server), as an S3 service has its own.
	cmd.Env = append(os.Environ(), "WEED_S3_SSE_KEK="+randomHex(32))
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
		// weed server puts its services' local gRPC sockets in /tmp whatever TMPDIR says; a killed one leaves them.
		for svc, port := range map[string]string{"master": p(1), "volume": p(3), "filer": p(5), "s3": p(7)} {
			_ = os.Remove("/tmp/seaweedfs-" + svc + "-grpc-" + port + ".sock")
		}
	}
	w.Endpoint = "127.0.0.1:" + p(6)
	if err := w.waitReady(exited); err != nil {
		stop()
		log, _ := os.ReadFile(logFile.Name())
		if len(log) > 4000 {
			log = log[len(log)-4000:]
		}
		return fmt.Errorf("%w; the end of its log:\n%s", err, log)
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			log, _ := os.ReadFile(logFile.Name())
			t.Logf("weed's log (warnings and errors):\n%s", warnings(log))
		}
	})
	return nil
}

// waitReady makes the bucket, retrying until the S3 gateway answers (it accepts connections before the filer
// behind it is ready), the process exits or weedTimeout passes.
func (w *Weed) waitReady(exited <-chan error) error {
	client, err := minio.New(w.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(w.AccessKey, w.SecretKey, ""),
		BucketLookup: minio.BucketLookupPath, Region: "us-east-1"})
	if err != nil {
		return err
	}
	w.Client = client
	deadline := time.Now().Add(weedTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = client.MakeBucket(ctx, w.Bucket, minio.MakeBucketOptions{})
		if code := minio.ToErrorResponse(err).Code; code == "BucketAlreadyOwnedByYou" || code == "BucketAlreadyExists" {
			err = nil // an earlier attempt made it, though its answer came too late
		}
		if err == nil {
			// The bucket is made: check it also takes an object, which needs a volume to be assigned.
			_, err = client.PutObject(ctx, w.Bucket, "ready", strings.NewReader("ok"), 2, minio.PutObjectOptions{})
		}
		cancel()
		if err == nil {
			_ = client.RemoveObject(context.Background(), w.Bucket, "ready", minio.RemoveObjectOptions{})
			return nil
		}
		select {
		case exitErr := <-exited:
			return fmt.Errorf("weed exited (%v) before it served S3", exitErr)
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("weed did not serve S3 within %v: %w", weedTimeout, err)
		}
	}
}

// Config is the backend's configuration for the bucket under prefix (a relative path ending with "/", or "").
func (w *Weed) Config(prefix string) storage.S3Config {
	return storage.S3Config{Bucket: w.Bucket, Prefix: prefix, Region: "us-east-1", Endpoint: w.Endpoint,
		PathStyle: true, AccessKeyID: w.AccessKey, SecretAccessKey: w.SecretKey}
}

// URL is the STORAGE_URL of the bucket under prefix; the credentials go in AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY.
func (w *Weed) URL(prefix string) string {
	return "s3://" + w.Bucket + "/" + prefix + "?region=us-east-1&path_style=true&endpoint=http://" + w.Endpoint
}

// Stored lists every object under prefix and every multipart upload begun there and not finished: what a
// backend keeps, finished or not.
func (w *Weed) Stored(t testing.TB, prefix string) []string {
	t.Helper()
	ctx := context.Background()
	var names []string
	for obj := range w.Client.ListObjects(ctx, w.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			t.Fatalf("storagetest: list %s: %v", prefix, obj.Err)
		}
		names = append(names, obj.Key)
	}
	for up := range w.Client.ListIncompleteUploads(ctx, w.Bucket, prefix, true) {
		if up.Err != nil {
			t.Fatalf("storagetest: list uploads under %s: %v", prefix, up.Err)
		}
		names = append(names, "unfinished upload of "+up.Key)
	}
	return names
}

// freePorts finds n ports nothing listens on now, all distinct.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	var listeners []net.Listener
	for len(ports) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range listeners {
		l.Close()
	}
	return ports
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// warnings keeps the warning and error lines of a weed log (glog's W and E lines), the last 60 of them.
func warnings(log []byte) string {
	var keep []string
	for _, line := range strings.Split(string(log), "\n") {
		if strings.HasPrefix(line, "W") || strings.HasPrefix(line, "E") || strings.HasPrefix(line, "F") {
			keep = append(keep, line)
		}
	}
	if len(keep) > 60 {
		keep = keep[len(keep)-60:]
	}
	return strings.Join(keep, "\n")
}
