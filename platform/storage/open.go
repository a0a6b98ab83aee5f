package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Opened is a backend a process opened from its configuration, with what it holds to release at shutdown.
type Opened interface {
	Backend
	io.Closer
}

// Presigner is a backend that can hand out a short-lived URL fetching a file straight from where it is kept, so a
// large download need not pass through the application. Only S3 is one; a download falls back to streaming
// through the application otherwise.
type Presigner interface {
	PresignGet(ctx context.Context, key string, ttl time.Duration, h ResponseHeaders) (*url.URL, error)
}

// ResponseHeaders are the headers the store must send with a presigned download, as the application would have.
type ResponseHeaders struct {
	ContentType        string
	ContentDisposition string
	CacheControl       string
}

// Location is where files are kept, read from STORAGE_URL: a directory (Dir) or a bucket (S3).
type Location struct {
	Dir string
	S3  *S3Config
}

var (
	// s3PrefixSegment: path segments of letters, digits, dot, dash and underscore; ".." and empty segments are refused
	// apart, so the prefix cannot climb out of itself in a store that resolves them.
	s3PrefixSegment = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
	s3Region        = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)
	// s3Bucket is the shape S3 allows for bucket names (R2 and SeaweedFS accept the same).
	s3Bucket = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
)

// ParseURL reads STORAGE_URL. Empty is the directory dataDir (DATA_DIR); file:///path is that directory;
// s3://bucket/prefix?region=…&endpoint=…&sse=s3&path_style=true is a bucket. The URL must not carry credentials:
// those come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, and an error says so without repeating the URL (it
// may hold the secret that was put there by mistake).
func ParseURL(raw, dataDir string) (Location, error) {
	if raw == "" {
		if dataDir == "" {
			return Location{}, errors.New("no directory: set DATA_DIR or STORAGE_URL")
		}
		return Location{Dir: dataDir}, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url's error repeats the input: say only what is wrong.
		return Location{}, errors.New("not a URL (want file:///path or s3://bucket/prefix?region=…)")
	}
	if u.User != nil {
		return Location{}, errors.New("must not hold credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY instead")
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" || !filepath.IsAbs(u.Path) || u.RawQuery != "" {
			return Location{}, errors.New("want file:///absolute/path")
		}
		return Location{Dir: filepath.Clean(u.Path)}, nil
	case "s3":
		cfg, err := parseS3(u)
		if err != nil {
			return Location{}, err
		}
		return Location{S3: cfg}, nil
	}
	return Location{}, errors.New("want a file:// or s3:// URL")
}

// parseS3 reads the bucket, prefix and parameters of an s3:// URL; unknown parameters are refused, so a misspelt
// sse= does not silently store files unencrypted.
func parseS3(u *url.URL) (*S3Config, error) {
	cfg := &S3Config{Bucket: u.Host, Endpoint: "s3.amazonaws.com", Secure: true}
	if !s3Bucket.MatchString(cfg.Bucket) {
		return nil, errors.New("want s3://bucket/prefix with a bucket name of 3 to 63 lowercase letters, digits, dots and dashes")
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		for _, seg := range strings.Split(p, "/") {
			if !s3PrefixSegment.MatchString(seg) || seg == "." || seg == ".." {
				return nil, errors.New("the prefix after the bucket may hold only letters, digits, '.', '-', '_' and single '/' between names (no '..')")
			}
		}
		cfg.Prefix = p + "/"
	}
	q := u.Query()
	for name, vs := range q {
		if len(vs) != 1 {
			return nil, fmt.Errorf("give %s once", name)
		}
		v := vs[0]
		switch name {
		case "region":
			if !s3Region.MatchString(v) {
				return nil, errors.New("region: want a region name such as eu-west-1")
			}
			cfg.Region = v
		case "endpoint":
			if err := parseEndpoint(cfg, v); err != nil {
				return nil, err
			}
		case "sse":
			switch strings.ToLower(v) {
			case "s3", "aes256":
				cfg.SSE = true
			case "", "none":
			default:
				return nil, errors.New("sse: want s3 (server-side encryption with the store's keys, SSE-S3) or none")
			}
		case "path_style":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, errors.New("path_style: want true or false")
			}
			cfg.PathStyle = b
		default:
			return nil, fmt.Errorf("unknown parameter %q (known: region, endpoint, sse, path_style)", name)
		}
	}
	return cfg, nil
}

// parseEndpoint reads endpoint=https://host[:port] (http:// for a store on a private network); a bare host is
// HTTPS.
func parseEndpoint(cfg *S3Config, v string) error {
	bad := errors.New("endpoint: want https://host[:port] or http://host[:port], without a path or credentials")
	if !strings.Contains(v, "://") {
		v = "https://" + v
	}
	e, err := url.Parse(v)
	if err != nil || e.Host == "" || e.User != nil || strings.Trim(e.Path, "/") != "" || e.RawQuery != "" ||
		(e.Scheme != "http" && e.Scheme != "https") {
		return bad
	}
	cfg.Endpoint, cfg.Secure = e.Host, e.Scheme == "https"
	return nil
}

// Options are the limits every backend applies, and the credentials of a bucket.
type Options struct {
	MaxBytes int64
	// AccessKeyID, SecretAccessKey and SessionToken (AWS_*) sign requests to a bucket; empty uses the instance's
	// role.
	AccessKeyID, SecretAccessKey, SessionToken string
}

// Open opens the backend of loc: what every command that keeps or reads files (serve, web, worker) calls, so they
// all agree on where files are.
func Open(ctx context.Context, loc Location, opts Options) (Opened, error) {
	if loc.S3 == nil {
		return NewLocal(loc.Dir, LocalOptions{MaxBytes: opts.MaxBytes})
	}
	cfg := *loc.S3
	cfg.AccessKeyID, cfg.SecretAccessKey, cfg.SessionToken = opts.AccessKeyID, opts.SecretAccessKey, opts.SessionToken
	return NewS3(ctx, cfg, S3Options{MaxBytes: opts.MaxBytes})
}
