// Package secrets seals small secrets at rest (integration passwords, API keys) with AES-256-GCM under keys derived
// from SECRET_KEY.
//
// Each Keyring serves one purpose ("integrations", …): the key is derived from SECRET_KEY by HKDF-SHA256 with the
// purpose in its label, so one leaked derived key opens nothing of another purpose, and SECRET_KEY itself never
// touches a cipher.
//
// # Key rotation
//
// A sealed value starts with a format byte and the id of the key that sealed it (a fingerprint of the derived key,
// not the key). To rotate SECRET_KEY:
//
//  1. set SECRET_KEY to the new key and SECRET_KEY_PREVIOUS to the old one, and restart;
//  2. values sealed under either key open; every write seals under the new key (Keyring.Seal always uses the
//     current key), and Keyring.NeedsReseal tells a sweep which values still carry the previous key;
//  3. once nothing is sealed under the old key any more, remove SECRET_KEY_PREVIOUS.
//
// Values sealed under neither key fail with ErrUnknownKey rather than as corrupt, so a missing
// SECRET_KEY_PREVIOUS is easy to tell from tampering.
package secrets

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// formatV1 is the first byte of every value sealed by this version: AES-256-GCM, 4-byte key id, 12-byte nonce.
const formatV1 byte = 1

const (
	keyIDSize  = 4
	nonceSize  = 12
	headerSize = 1 + keyIDSize + nonceSize
	// MinSecretKeyLength is the shortest SECRET_KEY accepted: it must carry real entropy, HKDF adds none.
	MinSecretKeyLength = 32
)

// Errors of Open.
var (
	// ErrUnknownKey: the value was sealed under a key this Keyring does not hold (SECRET_KEY_PREVIOUS missing
	// after a rotation, or a value from another installation).
	ErrUnknownKey = errors.New("secrets: sealed under a key that is not configured (is SECRET_KEY_PREVIOUS missing?)")
	// ErrCorrupt: the value is malformed, was altered, or belongs to another record (associated data mismatch).
	ErrCorrupt = errors.New("secrets: sealed value is corrupt or does not belong here")
)

// key is one derived AES key with its id.
type key struct {
	id   [keyIDSize]byte
	aead cipher.AEAD
}

// Keyring seals with the current key and opens with the current or the previous one. It is safe for concurrent
// use.
type Keyring struct {
	purpose  string
	current  key
	previous *key
}

// NewKeyring derives the keys of one purpose from SECRET_KEY (current) and, during a rotation,
// SECRET_KEY_PREVIOUS (previous, "" when there is none).
func NewKeyring(purpose, current, previous string) (*Keyring, error) {
	if purpose == "" {
		return nil, errors.New("secrets: a purpose is required")
	}
	cur, err := deriveKey(purpose, current)
	if err != nil {
		return nil, fmt.Errorf("SECRET_KEY: %w", err)
	}
	k := &Keyring{purpose: purpose, current: cur}
	if previous != "" {
		prev, err := deriveKey(purpose, previous)
		if err != nil {
			return nil, fmt.Errorf("SECRET_KEY_PREVIOUS: %w", err)
		}
		if prev.id == cur.id && previous == current {
			return nil, errors.New("SECRET_KEY_PREVIOUS: is the same as SECRET_KEY")
		}
		k.previous = &prev
	}
	return k, nil
}

// deriveKey derives the AES key and its id for purpose. The id comes from a second HKDF output, so it reveals
// nothing about the key.
func deriveKey(purpose, secret string) (key, error) {
	if len(secret) < MinSecretKeyLength {
		return key{}, fmt.Errorf("must be at least %d characters", MinSecretKeyLength)
	}
	raw, err := hkdf.Key(sha256.New, []byte(secret), nil, "concertmaster/secrets/v1/"+purpose, 32)
	if err != nil {
		return key{}, err
	}
	idBytes, err := hkdf.Key(sha256.New, []byte(secret), nil, "concertmaster/secrets/v1/key-id/"+purpose, keyIDSize)
	if err != nil {
		return key{}, err
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return key{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return key{}, err
	}
	var k key
	copy(k.id[:], idBytes)
	k.aead = aead
	return k, nil
}

// Seal encrypts plaintext under the current key. associatedData binds the value to its record (for example the
// integration's organization and id): it is not stored, and Open fails unless given the same, so a sealed value
// copied to another row or tenant does not open.
func (k *Keyring) Seal(plaintext, associatedData []byte) ([]byte, error) {
	out := make([]byte, headerSize, headerSize+len(plaintext)+k.current.aead.Overhead())
	out[0] = formatV1
	copy(out[1:], k.current.id[:])
	nonce := out[1+keyIDSize : headerSize]
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("secrets: nonce: %w", err)
	}
	return k.current.aead.Seal(out, nonce, plaintext, k.aad(associatedData)), nil
}

// Open decrypts a value sealed by Seal under the current or the previous key.
func (k *Keyring) Open(sealed, associatedData []byte) ([]byte, error) {
	if len(sealed) < headerSize+k.current.aead.Overhead() || sealed[0] != formatV1 {
		return nil, ErrCorrupt
	}
	id := sealed[1 : 1+keyIDSize]
	nonce := sealed[1+keyIDSize : headerSize]
	found := false
	for _, candidate := range k.keys() {
		if !bytes.Equal(candidate.id[:], id) {
			continue
		}
		found = true
		// Ids are 32 bits, so two keys may share one; a wrong key fails authentication and the next is tried.
		if plain, err := candidate.aead.Open(nil, nonce, sealed[headerSize:], k.aad(associatedData)); err == nil {
			return plain, nil
		}
	}
	if !found {
		return nil, ErrUnknownKey
	}
	return nil, ErrCorrupt
}

// NeedsReseal reports whether a sealed value was sealed under a key other than the current one, so a rotation
// sweep can re-seal it.
func (k *Keyring) NeedsReseal(sealed []byte) bool {
	return len(sealed) < headerSize || sealed[0] != formatV1 || !bytes.Equal(sealed[1:1+keyIDSize], k.current.id[:])
}

func (k *Keyring) keys() []key {
	if k.previous == nil {
		return []key{k.current}
	}
	return []key{k.current, *k.previous}
}

// aad prefixes the caller's associated data with the purpose, so a value sealed for one purpose never opens for
// another even under the same SECRET_KEY.
func (k *Keyring) aad(associatedData []byte) []byte {
	out := make([]byte, 0, len(k.purpose)+1+len(associatedData))
	out = append(out, k.purpose...)
	out = append(out, 0)
	return append(out, associatedData...)
}
