// Package auth holds the primitives of authentication: password hashing, random tokens and their hashes, and JWT
// access tokens. It imports only platform packages, so every layer may use it.
package auth

import (
	"errors"
	"fmt"

	"golang.org/x/crypto/bcrypt"

	"github.com/concertmaster/concertmaster/platform/fault"
)

// Password length bounds. bcrypt reads only the first 72 bytes, so a longer password would silently be truncated;
// refusing it is clearer.
const (
	MinPasswordLength = 8
	MaxPasswordBytes  = 72
)

// DefaultPasswordCost is bcrypt's default, about 50 ms a hash on this class of machine: slow for a guesser, fine for
// a login. A hash keeps the cost it was made with, so comparing against it costs the same later.
const DefaultPasswordCost = bcrypt.DefaultCost

// HashPassword checks a password's length and returns its bcrypt hash at DefaultPasswordCost.
func HashPassword(password string) (string, error) {
	return HashPasswordCost(password, DefaultPasswordCost)
}

// HashPasswordCost is HashPassword at a bcrypt cost of the caller's (app.Config.PasswordCost; tests lower it,
// since under the race detector a default-cost hash takes about a second of CPU).
func HashPasswordCost(password string, cost int) (string, error) {
	if err := CheckPasswordPolicy(password); err != nil {
		return "", err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), cost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(hash), nil
}

// CheckPasswordPolicy returns an Invalid error naming the password field when it is too short or too long.
func CheckPasswordPolicy(password string) error {
	switch {
	case len([]rune(password)) < MinPasswordLength:
		return fault.Fields("password is too short", fault.FieldError{Field: "password",
			Message: fmt.Sprintf("must be at least %d characters", MinPasswordLength)})
	case len(password) > MaxPasswordBytes:
		return fault.Fields("password is too long", fault.FieldError{Field: "password",
			Message: fmt.Sprintf("must be at most %d bytes", MaxPasswordBytes)})
	}
	return nil
}

// PasswordMatches reports whether password matches hash. It takes bcrypt's time whether or not it matches.
func PasswordMatches(hash, password string) bool {
	err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password))
	return err == nil && !errors.Is(err, bcrypt.ErrMismatchedHashAndPassword)
}
