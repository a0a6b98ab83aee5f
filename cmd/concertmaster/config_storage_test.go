package main

import (
	"strings"
	"testing"
)

// TestStorageURLConfiguration: empty keeps DATA_DIR, file:// and s3:// URLs are read with their parameters, and
// every mistake is refused naming STORAGE_URL (or the credentials' variable) without repeating a secret.
func TestStorageURLConfiguration(t *testing.T) {
	t.Parallel()
	load := func(env map[string]string) (*config, error) {
		env["DATABASE_URL"] = "postgres://x/y"
		return loadConfig(envFrom(env), configNeeds{})
	}
	cfg, err := load(map[string]string{"DATA_DIR": "/var/lib/cm"})
	if err != nil || cfg.Storage.S3 != nil || cfg.Storage.Dir != "/var/lib/cm" {
		t.Fatalf("default: %+v %v", cfg.Storage, err)
	}
	cfg, err = load(map[string]string{"STORAGE_URL": "file:///srv/files/"})
	if err != nil || cfg.Storage.Dir != "/srv/files" {
		t.Fatalf("file URL: %+v %v", cfg.Storage, err)
	}
	cfg, err = load(map[string]string{"AWS_ACCESS_KEY_ID": "AKIA1", "AWS_SECRET_ACCESS_KEY": "s3cr3t",
		"STORAGE_URL": "s3://my-bucket/cm/files?region=eu-west-1&endpoint=http://minio.internal:9000&sse=s3&path_style=true"})
	if err != nil {
		t.Fatal(err)
	}
	s3 := cfg.Storage.S3
	if s3 == nil || s3.Bucket != "my-bucket" || s3.Prefix != "cm/files/" || s3.Region != "eu-west-1" ||
		s3.Endpoint != "minio.internal:9000" || s3.Secure || !s3.SSE || !s3.PathStyle ||
		cfg.StorageCreds.AccessKeyID != "AKIA1" || cfg.StorageCreds.SecretAccessKey != "s3cr3t" {
		t.Fatalf("s3 URL: %+v %+v", s3, cfg.StorageCreds)
	}
	cfg, err = load(map[string]string{"STORAGE_URL": "s3://my-bucket"})
	if err != nil || cfg.Storage.S3.Endpoint != "s3.amazonaws.com" || !cfg.Storage.S3.Secure || cfg.Storage.S3.Prefix != "" {
		t.Fatalf("AWS defaults: %+v %v", cfg.Storage.S3, err)
	}

	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"STORAGE_URL": "s3://AKIA:topsecret@bucket/x"}, "STORAGE_URL: must not hold credentials"},
		{map[string]string{"STORAGE_URL": "s3://bucket/../other"}, "STORAGE_URL: the prefix"},
		{map[string]string{"STORAGE_URL": "s3://bucket/a//b"}, "STORAGE_URL: the prefix"},
		{map[string]string{"STORAGE_URL": "s3://Bad_Bucket"}, "STORAGE_URL: want s3://bucket"},
		{map[string]string{"STORAGE_URL": "s3://bucket?sse=kms"}, "STORAGE_URL: sse"},
		{map[string]string{"STORAGE_URL": "s3://bucket?ssee=s3"}, `STORAGE_URL: unknown parameter "ssee"`},
		{map[string]string{"STORAGE_URL": "s3://bucket?endpoint=ftp://x"}, "STORAGE_URL: endpoint"},
		{map[string]string{"STORAGE_URL": "s3://bucket?endpoint=http://u:p@x"}, "STORAGE_URL: endpoint"},
		{map[string]string{"STORAGE_URL": "s3://bucket?path_style=maybe"}, "STORAGE_URL: path_style"},
		{map[string]string{"STORAGE_URL": "file://relative/path"}, "STORAGE_URL: want file:///absolute/path"},
		{map[string]string{"STORAGE_URL": "gs://bucket"}, "STORAGE_URL: want a file:// or s3:// URL"},
		{map[string]string{"STORAGE_URL": "s3://bucket", "AWS_ACCESS_KEY_ID": "AKIA1"}, "AWS_SECRET_ACCESS_KEY: set both"},
	} {
		_, err := load(c.env)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.env, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), "topsecret") {
			t.Errorf("the error repeats the secret: %v", err)
		}
	}
}
