package store

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/db"
)

// APIToken is a personal API token as its owner sees it: never the secret, only its visible prefix.
type APIToken struct {
	ID             uuid.UUID
	OrganizationID uuid.UUID
	UserID         uuid.UUID
	Name           string
	Prefix         string
	LastUsedAt     *time.Time
	ExpiresAt      *time.Time
	RevokedAt      *time.Time
	CreatedAt      time.Time
	// Scopes bound what the token may do (handlers/authz/scopes.go): read, run, write, admin.
	Scopes []string
}

// NewAPIToken is what APITokenCreate needs; TokenHash is the SHA-256 of the secret shown once to its owner.
type NewAPIToken struct {
	OrganizationID uuid.UUID
	UserID         uuid.UUID
	Name           string
	TokenHash      []byte
	Prefix         string
	ExpiresAt      *time.Time
	// Scopes must name at least one scope: none would be a token good for nothing, and no default is safe.
	Scopes []string
}

// APITokenCreate stores a new personal API token.
func (s *Store) APITokenCreate(ctx context.Context, in NewAPIToken, by Actor) (APIToken, error) {
	var tok APIToken
	if len(in.Scopes) == 0 {
		return tok, fault.Fields("no scopes", fault.FieldError{Field: "scopes", Message: "choose at least one scope"})
	}
	err := s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		row, err := q.APITokenCreate(ctx, db.APITokenCreateParams{
			OrganizationID: in.OrganizationID, UserID: in.UserID, Name: in.Name, TokenHash: in.TokenHash,
			TokenPrefix: in.Prefix, ExpiresAt: in.ExpiresAt, Scopes: in.Scopes,
		})
		if err != nil {
			return interpret(err, "API token")
		}
		tok = apiTokenFromRow(db.APITokenListForUserRow(row))
		return audit(ctx, q, by, auditRecord{OrganizationID: &in.OrganizationID, Action: "api_token.created",
			TargetType: "api_token", TargetID: row.ID.String(),
			After: map[string]any{"name": row.Name, "prefix": row.TokenPrefix, "expires_at": row.ExpiresAt,
				"scopes": row.Scopes}})
	})
	return tok, err
}

// APITokenList lists a user's tokens in one organization, live ones first.
func (s *Store) APITokenList(ctx context.Context, orgID, userID uuid.UUID) ([]APIToken, error) {
	rows, err := s.q.APITokenListForUser(ctx, db.APITokenListForUserParams{OrganizationID: orgID, UserID: userID})
	if err != nil {
		return nil, interpret(err, "API tokens")
	}
	out := make([]APIToken, len(rows))
	for i, r := range rows {
		out[i] = apiTokenFromRow(r)
	}
	return out, nil
}

// APITokenRevoke revokes one of a user's own live tokens in org.
func (s *Store) APITokenRevoke(ctx context.Context, orgID, userID, id uuid.UUID, by Actor) error {
	return s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		row, err := q.APITokenRevoke(ctx, db.APITokenRevokeParams{ID: id, OrganizationID: orgID, UserID: userID})
		if err != nil {
			return interpret(err, "API token")
		}
		return audit(ctx, q, by, auditRecord{OrganizationID: &orgID, Action: "api_token.revoked",
			TargetType: "api_token", TargetID: id.String(),
			Before: map[string]any{"name": row.Name, "prefix": row.TokenPrefix}})
	})
}

func apiTokenFromRow(r db.APITokenListForUserRow) APIToken {
	return APIToken{ID: r.ID, OrganizationID: r.OrganizationID, UserID: r.UserID, Name: r.Name, Prefix: r.TokenPrefix,
		LastUsedAt: r.LastUsedAt, ExpiresAt: r.ExpiresAt, RevokedAt: r.RevokedAt, CreatedAt: r.CreatedAt, Scopes: r.Scopes}
}

// lastUsedResolution is how stale an API token's last-used time may be: recording every use would be a write per
// API call.
const lastUsedResolution = time.Minute

// APITokenAuthenticate resolves a presented token's hash to its principal; Unauthorized when the token is unknown,
// revoked or expired, or its user left the organization. It records the use at most once a minute.
func (s *Store) APITokenAuthenticate(ctx context.Context, tokenHash []byte) (Principal, error) {
	row, err := s.q.APITokenAuthenticate(ctx, tokenHash)
	if err != nil {
		if fault.CodeOf(interpret(err, "")) == fault.NotFound {
			return Principal{}, fault.New(fault.Unauthorized, "the API token is not valid")
		}
		return Principal{}, interpret(err, "API token")
	}
	if row.LastUsedAt == nil || time.Since(*row.LastUsedAt) > lastUsedResolution {
		if err := s.q.APITokenTouch(ctx, row.TokenID); err != nil {
			return Principal{}, interpret(err, "API token")
		}
	}
	tokenID := row.TokenID
	return Principal{
		User:         User{ID: row.UserID, Email: row.Email, Name: row.Name, InstanceAdmin: row.InstanceAdmin},
		Organization: Organization{ID: row.OrganizationID, Name: row.OrganizationName, Slug: row.OrganizationSlug},
		Role:         Role(row.Role),
		TokenID:      &tokenID,
		TokenScopes:  row.Scopes,
	}, nil
}

// APILogin starts a new refresh-token family for a user who signed in through the API, and records the sign-in.
func (s *Store) APILogin(ctx context.Context, userID, orgID uuid.UUID, refreshHash []byte, expiresAt time.Time, by Actor) error {
	return s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		family := uuid.Must(uuid.NewV7())
		if _, err := q.RefreshTokenCreate(ctx, db.RefreshTokenCreateParams{
			FamilyID: family, UserID: userID, OrganizationID: orgID, TokenHash: refreshHash, ExpiresAt: expiresAt,
		}); err != nil {
			return interpret(err, "refresh token")
		}
		if err := q.UserTouchLogin(ctx, userID); err != nil {
			return interpret(err, "user")
		}
		by.UserID = &userID
		return audit(ctx, q, by, auditRecord{OrganizationID: &orgID, Action: "session.login", TargetType: "user",
			TargetID: userID.String(), After: map[string]any{"method": "api", "family_id": family}})
	})
}

// RefreshGrant is who a rotated refresh token speaks for.
type RefreshGrant struct {
	UserID         uuid.UUID
	OrganizationID uuid.UUID
}

// RefreshTokenRotate replaces a live refresh token by a new one of the same family. Presenting a token that was
// already rotated or revoked is a sign it was stolen: the whole family is revoked (and that is committed) and the
// answer is Unauthorized, so neither the thief nor the owner can go on without signing in again. Ordinary
// rotations are not audited (a client rotates every few minutes); a detected reuse is.
func (s *Store) RefreshTokenRotate(ctx context.Context, oldHash, newHash []byte, expiresAt time.Time, by Actor) (RefreshGrant, error) {
	var grant RefreshGrant
	var refusal error
	err := s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		old, err := q.RefreshTokenGetForUpdate(ctx, oldHash)
		if err != nil {
			if fault.CodeOf(interpret(err, "")) == fault.NotFound {
				refusal = fault.New(fault.Unauthorized, "the refresh token is not valid")
				return nil
			}
			return interpret(err, "refresh token")
		}
		if old.ReplacedBy != nil || old.RevokedAt != nil {
			n, err := q.RefreshTokenRevokeFamily(ctx, old.FamilyID)
			if err != nil {
				return interpret(err, "refresh token")
			}
			refusal = fault.New(fault.Unauthorized, "the refresh token is not valid")
			if n == 0 {
				return nil // the family was already revoked: nothing new to record
			}
			return audit(ctx, q, by, auditRecord{OrganizationID: &old.OrganizationID,
				Action: "session.refresh_reused", TargetType: "user", TargetID: old.UserID.String(),
				After: map[string]any{"family_id": old.FamilyID, "revoked": n}})
		}
		if time.Now().After(old.ExpiresAt) {
			refusal = fault.New(fault.Unauthorized, "the refresh token has expired")
			return nil
		}
		if _, err := q.MembershipGet(ctx, db.MembershipGetParams{OrganizationID: old.OrganizationID, UserID: old.UserID}); err != nil {
			if fault.CodeOf(interpret(err, "")) == fault.NotFound {
				_, err = q.RefreshTokenRevokeFamily(ctx, old.FamilyID)
				refusal = fault.New(fault.Unauthorized, "the refresh token is not valid")
			}
			return interpret(err, "membership")
		}
		newID, err := q.RefreshTokenCreate(ctx, db.RefreshTokenCreateParams{
			FamilyID: old.FamilyID, UserID: old.UserID, OrganizationID: old.OrganizationID, TokenHash: newHash,
			ExpiresAt: expiresAt,
		})
		if err != nil {
			return interpret(err, "refresh token")
		}
		if err := q.RefreshTokenMarkReplaced(ctx, db.RefreshTokenMarkReplacedParams{ID: old.ID, ReplacedBy: &newID}); err != nil {
			return interpret(err, "refresh token")
		}
		grant = RefreshGrant{UserID: old.UserID, OrganizationID: old.OrganizationID}
		return nil
	})
	if err != nil {
		return RefreshGrant{}, err
	}
	return grant, refusal
}

// RefreshTokenRevoke ends the sign-in a refresh token belongs to (its whole family): the API's logout. An unknown
// token is not an error, so logging out twice is harmless.
func (s *Store) RefreshTokenRevoke(ctx context.Context, tokenHash []byte, by Actor) error {
	return s.inTx(ctx, func(tx pgx.Tx, q *db.Queries) error {
		old, err := q.RefreshTokenGetForUpdate(ctx, tokenHash)
		if err != nil {
			if fault.CodeOf(interpret(err, "")) == fault.NotFound {
				return nil
			}
			return interpret(err, "refresh token")
		}
		n, err := q.RefreshTokenRevokeFamily(ctx, old.FamilyID)
		if err != nil || n == 0 {
			return interpret(err, "refresh token")
		}
		by.UserID = &old.UserID
		return audit(ctx, q, by, auditRecord{OrganizationID: &old.OrganizationID, Action: "session.logout",
			TargetType: "user", TargetID: old.UserID.String(), After: map[string]any{"method": "api"}})
	})
}
