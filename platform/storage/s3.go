package storage

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/encrypt"

	"github.com/concertmaster/concertmaster/platform/fault"
)

// S3 stores files in a bucket of an S3-compatible object store (AWS S3, MinIO, Cloudflare R2, SeaweedFS), so that
// several web and worker processes on several machines share them. An object is named like Local's file:
// prefix + key[:2] + "/" + key, so a DATA_DIR copied into a bucket (without its tmp/) is readable as it is. Keys are
// checked against the generated shape before any request, as Local does: a name never becomes part of an object's
// name, and no key can reach another prefix of the bucket.
type S3 struct {
	client *minio.Client
	core   minio.Core
	bucket string
	// prefix is "" or ends with "/".
	prefix    string
	sse       encrypt.ServerSide
	transport *http.Transport
	maxBytes  int64
	partSize  uint64
}

// S3Config says where the bucket is (from STORAGE_URL) and with what credentials (from AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN: never from the URL, which is logged and shown more freely).
type S3Config struct {
	Bucket string
	// Prefix is "" or a relative path ending with "/"; every object is under it.
	Prefix string
	Region string
	// Endpoint is host[:port]; Secure says whether it speaks HTTPS.
	Endpoint  string
	Secure    bool
	PathStyle bool
	// SSE asks the store to encrypt every object at rest with its own keys (SSE-S3, AES256).
	SSE             bool
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
}

// S3Options bounds what an S3 backend takes.
type S3Options struct {
	// MaxBytes bounds the size of one file; 0 means no limit.
	MaxBytes int64
	// PartSize is the size of one part of a multipart upload (at least 5 MiB, S3's minimum); 0 means 16 MiB. An
	// upload holds one part in memory, so this is also what each concurrent upload costs.
	PartSize uint64
}

const (
	defaultPartSize = 16 << 20
	minPartSize     = 5 << 20
)

// NewS3 connects to the bucket of cfg and checks that it is there and reachable with the credentials, so a wrong
// STORAGE_URL or key stops the process at start rather than at its first upload. Without static credentials the
// instance's role is used (the EC2/ECS/EKS metadata service, or a web identity token).
func NewS3(ctx context.Context, cfg S3Config, opts S3Options) (*S3, error) {
	var creds *credentials.Credentials
	if cfg.AccessKeyID != "" {
		creds = credentials.NewStaticV4(cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken)
	} else {
		creds = credentials.NewIAM("")
	}
	lookup := minio.BucketLookupAuto
	if cfg.PathStyle {
		lookup = minio.BucketLookupPath
	}
	transport, err := minio.DefaultTransport(cfg.Secure)
	if err != nil {
		return nil, fmt.Errorf("storage: s3 transport: %w", err)
	}
	// A store that accepts the connection but never answers must not hold a download or an upload forever.
	transport.ResponseHeaderTimeout = time.Minute
	client, err := minio.New(cfg.Endpoint, &minio.Options{Creds: creds, Secure: cfg.Secure, Region: cfg.Region,
		BucketLookup: lookup, Transport: transport})
	if err != nil {
		return nil, fmt.Errorf("storage: s3 client: %w", err)
	}
	partSize := opts.PartSize
	if partSize == 0 {
		partSize = defaultPartSize
	}
	if partSize < minPartSize {
		return nil, fmt.Errorf("storage: s3 part size %d is under S3's minimum of %d bytes", partSize, minPartSize)
	}
	s := &S3{client: client, core: minio.Core{Client: client}, bucket: cfg.Bucket, prefix: cfg.Prefix,
		transport: transport, maxBytes: opts.MaxBytes, partSize: partSize}
	if cfg.SSE {
		s.sse = encrypt.NewSSE()
	}
	checkCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ok, err := client.BucketExists(checkCtx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("storage: s3 bucket %q at %s: %w", cfg.Bucket, cfg.Endpoint, err)
	}
	if !ok {
		return nil, fmt.Errorf("storage: s3 bucket %q at %s does not exist", cfg.Bucket, cfg.Endpoint)
	}
	return s, nil
}

// Close implements Opened; the client holds nothing but idle connections.
func (s *S3) Close() error {
	s.transport.CloseIdleConnections()
	return nil
}

// object maps a checked key to its object's name.
func (s *S3) object(key string) string { return s.prefix + path(key) }

// PutObject implements Backend. The file streams to the store in parts of partSize (a multipart upload, the size
// being unknown), hashed on the way. A file over the size limit, a failing reader or a canceled context aborts the
// multipart upload, so nothing is kept. The requests themselves run on a context that is not canceled with ctx:
// cancellation stops the reading (contextReader), after which the client aborts the upload it began, which it
// could not do on a canceled context.
func (s *S3) PutObject(ctx context.Context, name, contentType string, r io.Reader) (Object, error) {
	key := NewKey()
	h := sha256.New()
	src := &countingReader{r: &contextReader{ctx: ctx, r: r}, h: h, max: s.maxBytes}
	opts := minio.PutObjectOptions{ContentType: contentType, PartSize: s.partSize, ServerSideEncryption: s.sse}
	if contentType == "" {
		opts.ContentType = "application/octet-stream"
	}
	info, err := s.client.PutObject(context.WithoutCancel(ctx), s.bucket, s.object(key), src, -1, opts)
	switch {
	case src.err != nil:
		// The reader's own failure (too large, canceled, the client went away) says more than the client's wrapping.
		if err == nil { // the client finished the upload regardless: take it back
			_ = s.Delete(context.WithoutCancel(ctx), key)
		}
		return Object{}, src.err
	case err != nil:
		return Object{}, s3Error("put", err)
	case info.Size != src.n:
		_ = s.Delete(context.WithoutCancel(ctx), key)
		return Object{}, fmt.Errorf("storage: s3 put: stored %d bytes of %d", info.Size, src.n)
	}
	return Object{Key: key, Size: src.n, SHA256: h.Sum(nil), ModTime: time.Now()}, nil
}

// Open implements Backend.
func (s *S3) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	return s.OpenRange(ctx, key, 0, -1)
}

// OpenRange implements Backend with a ranged GET. The request is made before OpenRange returns, so a missing file
// is ErrNotFound here rather than at the first Read. A range past the end (S3's 416) is an empty stream, as on disk.
func (s *S3) OpenRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if offset < 0 {
		return nil, fault.New(fault.Invalid, "a file offset cannot be negative")
	}
	if !ValidKey(key) {
		return nil, ErrNotFound
	}
	if length == 0 {
		// No byte range can say "none"; the file must still exist.
		if _, err := s.Stat(ctx, key); err != nil {
			return nil, err
		}
		return io.NopCloser(strings.NewReader("")), nil
	}
	// SSE-S3 needs nothing on reads (only SSE-C would): the store decrypts with its own keys.
	var opts minio.GetObjectOptions
	switch {
	case length > 0:
		_ = opts.SetRange(offset, offset+length-1)
	case offset > 0:
		_ = opts.SetRange(offset, 0)
	}
	body, _, _, err := s.core.GetObject(ctx, s.bucket, s.object(key), opts)
	if err != nil {
		if minio.ToErrorResponse(err).Code == "InvalidRange" {
			return io.NopCloser(strings.NewReader("")), nil
		}
		return nil, s3Error("get", err)
	}
	return body, nil
}

// Stat implements Backend.
func (s *S3) Stat(ctx context.Context, key string) (Object, error) {
	if !ValidKey(key) {
		return Object{}, ErrNotFound
	}
	info, err := s.client.StatObject(ctx, s.bucket, s.object(key), minio.StatObjectOptions{})
	if err != nil {
		return Object{}, s3Error("stat", err)
	}
	return Object{Key: key, Size: info.Size, ModTime: info.LastModified}, nil
}

// Delete implements Backend. S3 answers a delete of a missing object with success, so a sweep can be repeated.
func (s *S3) Delete(ctx context.Context, key string) error {
	if !ValidKey(key) {
		return nil
	}
	if err := s.client.RemoveObject(ctx, s.bucket, s.object(key), minio.RemoveObjectOptions{}); err != nil {
		if errors.Is(s3Error("delete", err), ErrNotFound) {
			return nil
		}
		return s3Error("delete", err)
	}
	return nil
}

// PresignGet implements Presigner: a URL that fetches the file straight from the store for ttl, with the
// response headers the store must send (S3's response-* parameters are part of the signature, so the holder of
// the URL cannot change them). The file is checked first, so a swept file is the application's 404, not the
// store's.
func (s *S3) PresignGet(ctx context.Context, key string, ttl time.Duration, h ResponseHeaders) (*url.URL, error) {
	if _, err := s.Stat(ctx, key); err != nil {
		return nil, err
	}
	params := url.Values{}
	for name, v := range map[string]string{"response-content-type": h.ContentType,
		"response-content-disposition": h.ContentDisposition, "response-cache-control": h.CacheControl} {
		if v != "" {
			params.Set(name, v)
		}
	}
	u, err := s.client.PresignedGetObject(ctx, s.bucket, s.object(key), ttl, params)
	if err != nil {
		return nil, s3Error("presign", err)
	}
	return u, nil
}

// s3Error maps the store's answer: a missing object (or bucket) is ErrNotFound, anything else stays internal.
func s3Error(op string, err error) error {
	switch minio.ToErrorResponse(err).Code {
	case "NoSuchKey", "NoSuchBucket", "NotFound":
		return ErrNotFound
	}
	return fmt.Errorf("storage: s3 %s: %w", op, err)
}

// countingReader counts and hashes what it passes, and fails once more than max bytes (when max > 0) went through,
// so the upload of an oversized file stops at the limit instead of after the whole file. err keeps its own
// failure apart from the client's.
type countingReader struct {
	r   io.Reader
	h   hash.Hash
	max int64
	n   int64
	err error
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.max > 0 && c.n > c.max {
		c.err = ErrTooLarge
		return 0, c.err
	}
	c.h.Write(p[:n])
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}
