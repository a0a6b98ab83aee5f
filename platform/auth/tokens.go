package auth

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/platform/fault"
)

// Prefixes of the secrets ConcertMaster hands out. A visible prefix tells a person (and a secret scanner) what a
// leaked string is, and lets the API tell a personal token from a JWT without trying both.
const (
	PersonalTokenPrefix = "cm_pat_"
	RefreshTokenPrefix  = "cm_rt_"
	// LinkTokenPrefix marks invitation and password-reset links' tokens.
	LinkTokenPrefix = "cm_lnk_"
)

// NewToken returns a new secret of 256 random bits, base64url-encoded after prefix, and its SHA-256 hash: only the
// hash is ever stored, so a database leak hands out no usable token.
func NewToken(prefix string) (token string, hash []byte) {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails on supported platforms
	token = prefix + base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashToken(token)
}

// HashToken is the stored form of a token. A plain SHA-256 suffices: the tokens carry 256 random bits, so there is
// nothing to brute-force, unlike a password.
func HashToken(token string) []byte {
	sum := sha256.Sum256([]byte(token))
	return sum[:]
}

// DisplayPrefix is the part of a token shown in lists to recognize it: its kind and first four secret characters.
func DisplayPrefix(token string) string {
	i := 0
	for _, p := range []string{PersonalTokenPrefix, RefreshTokenPrefix, LinkTokenPrefix} {
		if strings.HasPrefix(token, p) {
			i = len(p)
		}
	}
	return token[:min(len(token), i+4)]
}

// DeriveKey derives a 256-bit key for one purpose from SECRET_KEY (HKDF-SHA256), so the JWT signing key, the
// encryption key of secrets at rest and any later key never coincide.
func DeriveKey(secretKey, purpose string) []byte {
	key, err := hkdf.Key(sha256.New, []byte(secretKey), nil, "concertmaster "+purpose, 32)
	if err != nil {
		panic(fmt.Sprintf("derive key: %v", err)) // only for impossible lengths
	}
	return key
}

// EqualTokens compares two secrets in constant time.
func EqualTokens(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// AccessTokens issues and verifies the API's short-lived JWT access tokens (HS256). They carry who and in which
// organization, and the user's credentials version, so a password change ends them; the membership behind them
// is re-read on every request, so a removed member loses access at once.
type AccessTokens struct {
	key      []byte
	lifetime time.Duration
	now      func() time.Time
}

// accessTokenIssuer and accessTokenAudience pin the tokens to this use, should the key ever sign anything else.
const (
	accessTokenIssuer   = "concertmaster"
	accessTokenAudience = "concertmaster-api"
)

// NewAccessTokens returns an issuer keyed from secretKey.
func NewAccessTokens(secretKey string, lifetime time.Duration) *AccessTokens {
	return &AccessTokens{key: DeriveKey(secretKey, "jwt access tokens v1"), lifetime: lifetime, now: time.Now}
}

// Lifetime is how long an access token lives.
func (a *AccessTokens) Lifetime() time.Duration { return a.lifetime }

// AccessClaims is what an access token says.
type AccessClaims struct {
	UserID             uuid.UUID
	OrgID              uuid.UUID
	CredentialsVersion int
	ExpiresAt          time.Time
}

type jwtClaims struct {
	Org string `json:"org"`
	CV  int    `json:"cv"`
	jwt.RegisteredClaims
}

// Issue signs an access token for c (its ExpiresAt is set from the lifetime).
func (a *AccessTokens) Issue(c AccessClaims) (string, time.Time, error) {
	now := a.now()
	exp := now.Add(a.lifetime)
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwtClaims{
		Org: c.OrgID.String(), CV: c.CredentialsVersion,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: accessTokenIssuer, Subject: c.UserID.String(), Audience: jwt.ClaimStrings{accessTokenAudience},
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(exp),
			ID: uuid.NewString(),
		},
	})
	s, err := tok.SignedString(a.key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign access token: %w", err)
	}
	return s, exp, nil
}

// errBadAccessToken is every refusal: the caller learns nothing about which check failed.
var errBadAccessToken = fault.New(fault.Unauthorized, "the access token is not valid or has expired")

// Verify checks an access token's signature (HS256 only: "none" and every other algorithm are refused), issuer,
// audience and lifetime, and returns its claims. Any failure is an Unauthorized fault.
func (a *AccessTokens) Verify(token string) (AccessClaims, error) {
	var claims jwtClaims
	_, err := jwt.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return a.key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(accessTokenIssuer), jwt.WithAudience(accessTokenAudience),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithTimeFunc(a.now), jwt.WithLeeway(5*time.Second))
	if err != nil {
		return AccessClaims{}, fault.Wrap(err, fault.Unauthorized, errBadAccessToken.Message)
	}
	userID, err1 := uuid.Parse(claims.Subject)
	orgID, err2 := uuid.Parse(claims.Org)
	if err := errors.Join(err1, err2); err != nil {
		return AccessClaims{}, fault.Wrap(err, fault.Unauthorized, errBadAccessToken.Message)
	}
	return AccessClaims{UserID: userID, OrgID: orgID, CredentialsVersion: claims.CV,
		ExpiresAt: claims.ExpiresAt.Time}, nil
}
