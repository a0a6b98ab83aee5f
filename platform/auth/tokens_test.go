package auth

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/platform/fault"
)

const testSecret = "test-secret-key-with-at-least-32-characters"

func TestAccessTokensRefuseEveryForgery(t *testing.T) {
	t.Parallel()
	issuer := NewAccessTokens(testSecret, 15*time.Minute)
	claims := AccessClaims{UserID: uuid.New(), OrgID: uuid.New(), CredentialsVersion: 3}
	good, _, err := issuer.Issue(claims)
	if err != nil {
		t.Fatal(err)
	}
	got, err := issuer.Verify(good)
	if err != nil || got.UserID != claims.UserID || got.OrgID != claims.OrgID || got.CredentialsVersion != 3 {
		t.Fatalf("Verify(good) = %+v, %v", got, err)
	}

	parts := strings.Split(good, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tamperedPayload := bytes.Replace(payload, []byte(claims.OrgID.String()), []byte(uuid.NewString()), 1)
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	noneUnsafe, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{
		"sub": claims.UserID.String(), "org": claims.OrgID.String(), "iss": accessTokenIssuer,
		"aud": accessTokenAudience, "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	hs512, _ := jwt.NewWithClaims(jwt.SigningMethodHS512, jwt.MapClaims{
		"sub": claims.UserID.String(), "org": claims.OrgID.String(), "iss": accessTokenIssuer,
		"aud": accessTokenAudience, "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString(issuer.key)
	otherKey, _, _ := NewAccessTokens(testSecret+"-other", time.Minute).Issue(claims)

	expiredIssuer := NewAccessTokens(testSecret, 15*time.Minute)
	expiredIssuer.now = func() time.Time { return time.Now().Add(-time.Hour) }
	expired, _, _ := expiredIssuer.Issue(claims)

	for name, tok := range map[string]string{
		"tampered payload":     parts[0] + "." + base64.RawURLEncoding.EncodeToString(tamperedPayload) + "." + parts[2],
		"tampered signature":   parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2])),
		"alg none, no sig":     none,
		"alg none via library": noneUnsafe,
		"other algorithm":      hs512,
		"other key":            otherKey,
		"expired":              expired,
		"garbage":              "not-a-jwt",
		"empty":                "",
	} {
		if _, err := issuer.Verify(tok); fault.CodeOf(err) != fault.Unauthorized {
			t.Errorf("%s: Verify = %v, want Unauthorized", name, err)
		}
	}
}

func TestTokensAreRandomAndOnlyTheirHashIsKept(t *testing.T) {
	t.Parallel()
	a, ha := NewToken(PersonalTokenPrefix)
	b, _ := NewToken(PersonalTokenPrefix)
	if a == b || !strings.HasPrefix(a, "cm_pat_") || len(a) != len("cm_pat_")+43 {
		t.Fatalf("tokens %q %q", a, b)
	}
	if !bytes.Equal(ha, HashToken(a)) || bytes.Contains(ha, []byte(a)) {
		t.Error("hash does not match")
	}
	if p := DisplayPrefix(a); p != a[:len("cm_pat_")+4] {
		t.Errorf("DisplayPrefix = %q", p)
	}
	if bytes.Equal(DeriveKey(testSecret, "a"), DeriveKey(testSecret, "b")) {
		t.Error("keys of two purposes coincide")
	}
}

func TestPasswordsAreBcryptHashes(t *testing.T) {
	t.Parallel()
	hash, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$2a$10$") || strings.Contains(hash, "correct horse") {
		t.Fatalf("hash %q is not a bcrypt hash at DefaultPasswordCost", hash)
	}
	if low, err := HashPasswordCost("correct horse battery", 4); err != nil || !strings.HasPrefix(low, "$2a$04$") ||
		!PasswordMatches(low, "correct horse battery") {
		t.Fatalf("HashPasswordCost(…, 4) = %q, %v", low, err)
	}
	if !PasswordMatches(hash, "correct horse battery") || PasswordMatches(hash, "wrong horse battery") {
		t.Error("PasswordMatches is wrong")
	}
	if _, err := HashPassword("short"); fault.CodeOf(err) != fault.Invalid {
		t.Errorf("short password: %v", err)
	}
}
