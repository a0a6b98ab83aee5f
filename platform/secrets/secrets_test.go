package secrets_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/concertmaster/concertmaster/platform/secrets"
)

const (
	oldKey = "old-secret-key-old-secret-key-0123456789"
	newKey = "new-secret-key-new-secret-key-0123456789"
)

func keyring(t *testing.T, purpose, current, previous string) *secrets.Keyring {
	t.Helper()
	k, err := secrets.NewKeyring(purpose, current, previous)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpenRoundTripAndBinding(t *testing.T) {
	t.Parallel()
	k := keyring(t, "integrations", newKey, "")
	plain := []byte(`{"password":"hunter2"}`)
	sealed, err := k.Seal(plain, []byte("org-1/int-1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("hunter2")) {
		t.Fatal("plaintext visible in the sealed value")
	}
	again, _ := k.Seal(plain, []byte("org-1/int-1"))
	if bytes.Equal(sealed, again) {
		t.Error("two seals of the same value are equal: nonce reused")
	}
	got, err := k.Open(sealed, []byte("org-1/int-1"))
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("open: %q %v", got, err)
	}
	// Copied to another record, or altered, it does not open.
	if _, err := k.Open(sealed, []byte("org-2/int-1")); !errors.Is(err, secrets.ErrCorrupt) {
		t.Errorf("other record: %v", err)
	}
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	if _, err := k.Open(tampered, []byte("org-1/int-1")); !errors.Is(err, secrets.ErrCorrupt) {
		t.Errorf("tampered: %v", err)
	}
	if _, err := k.Open(sealed[:10], nil); !errors.Is(err, secrets.ErrCorrupt) {
		t.Errorf("truncated: %v", err)
	}
	// Another purpose derives another key from the same SECRET_KEY.
	other := keyring(t, "webhooks", newKey, "")
	if _, err := other.Open(sealed, []byte("org-1/int-1")); err == nil {
		t.Error("a value sealed for integrations opened for webhooks")
	}
}

func TestRotationOpensWithThePreviousKeyAndSealsWithTheNew(t *testing.T) {
	t.Parallel()
	before := keyring(t, "integrations", oldKey, "")
	sealedOld, err := before.Seal([]byte("s3cret"), nil)
	if err != nil {
		t.Fatal(err)
	}

	// New key only: the old value is reported as sealed under an unknown key, not as corrupt.
	if _, err := keyring(t, "integrations", newKey, "").Open(sealedOld, nil); !errors.Is(err, secrets.ErrUnknownKey) {
		t.Fatalf("without previous: %v", err)
	}

	rotating := keyring(t, "integrations", newKey, oldKey)
	got, err := rotating.Open(sealedOld, nil)
	if err != nil || string(got) != "s3cret" {
		t.Fatalf("open with previous: %q %v", got, err)
	}
	if !rotating.NeedsReseal(sealedOld) {
		t.Error("a value under the previous key should need re-sealing")
	}
	resealed, err := rotating.Seal(got, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rotating.NeedsReseal(resealed) {
		t.Error("a fresh seal needs re-sealing")
	}
	// After the rotation ends, the re-sealed value opens with the new key alone.
	if got, err := keyring(t, "integrations", newKey, "").Open(resealed, nil); err != nil || string(got) != "s3cret" {
		t.Fatalf("after rotation: %q %v", got, err)
	}
}

func TestKeysMustCarryEntropy(t *testing.T) {
	t.Parallel()
	if _, err := secrets.NewKeyring("integrations", "short", ""); err == nil {
		t.Error("short SECRET_KEY accepted")
	}
	if _, err := secrets.NewKeyring("integrations", newKey, "short"); err == nil {
		t.Error("short SECRET_KEY_PREVIOUS accepted")
	}
	if _, err := secrets.NewKeyring("", newKey, ""); err == nil {
		t.Error("empty purpose accepted")
	}
}
