package app

import (
	"context"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/platform/auth"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/platform/validate"
	"github.com/concertmaster/concertmaster/sql/store"
)

// Tokens are the use cases of personal API tokens. Every one takes TokensManage, which a caller authenticated with
// a personal token never has, whatever its scopes: a leaked token can neither mint nor revoke tokens, nor list
// them. A token is its owner's alone, in one organization; anyone else's is NotFound.
type Tokens struct {
	store *store.Store
	now   func() time.Time
}

// authorize checks that the caller may manage their own tokens in their organization.
func (t *Tokens) authorize(c Caller) error {
	return authz.Authorize(c.Principal, authz.TokensManage, authz.Org(c.Principal.OrgID))
}

// List lists the caller's own tokens in their organization, live ones first: never a secret, which the database
// does not keep.
func (t *Tokens) List(ctx context.Context, c Caller) ([]store.APIToken, error) {
	if err := t.authorize(c); err != nil {
		return nil, err
	}
	return t.store.APITokenList(ctx, c.Principal.OrgID, c.Principal.UserID)
}

// NewToken is what a caller asks a personal token for. ExpiresInDays takes the page's choices; 0 never expires.
// Scopes must name at least one of read, run, write, admin, each once.
type NewToken struct {
	Name          string   `json:"name" form:"name" validate:"required,max=100"`
	ExpiresInDays int      `json:"expires_in_days" form:"expires_in_days" validate:"oneof=0 30 90 365"`
	Scopes        []string `json:"scopes" form:"scopes"`
}

// CreatedToken is a new token with its secret, which exists only in this answer: the database keeps its hash and a
// short prefix to recognize it by.
type CreatedToken struct {
	Token  store.APIToken
	Secret string
}

// Create makes a personal API token for the caller in their organization.
func (t *Tokens) Create(ctx context.Context, c Caller, in NewToken) (CreatedToken, error) {
	if err := t.authorize(c); err != nil {
		return CreatedToken{}, err
	}
	in.Name = strings.TrimSpace(in.Name)
	scopes, scopesErr := tokenScopes(in.Scopes)
	if err := validate.Join(validate.Struct(in), scopesErr); err != nil {
		return CreatedToken{}, err
	}
	var expires *time.Time
	if in.ExpiresInDays > 0 {
		at := t.now().Add(time.Duration(in.ExpiresInDays) * 24 * time.Hour)
		expires = &at
	}
	secret, hash := auth.NewToken(auth.PersonalTokenPrefix)
	p := c.Principal
	tok, err := t.store.APITokenCreate(ctx, store.NewAPIToken{
		OrganizationID: p.OrgID, UserID: p.UserID, Name: in.Name, TokenHash: hash, Prefix: auth.DisplayPrefix(secret),
		ExpiresAt: expires, Scopes: scopes,
	}, c.Actor)
	if err != nil {
		return CreatedToken{}, err
	}
	return CreatedToken{Token: tok, Secret: secret}, nil
}

// tokenScopes validates the scopes a token is created with, as the field "scopes".
func tokenScopes(in []string) ([]string, *fault.FieldError) {
	scopes, err := authz.ParseScopes(in)
	if err != nil {
		f := fault.As(err).Fields[0]
		return nil, &f
	}
	out := make([]string, len(scopes))
	for i, sc := range scopes {
		out[i] = string(sc)
	}
	return out, nil
}

// Revoke revokes one of the caller's own live tokens in their organization.
func (t *Tokens) Revoke(ctx context.Context, c Caller, id uuid.UUID) error {
	if err := t.authorize(c); err != nil {
		return err
	}
	return t.store.APITokenRevoke(ctx, c.Principal.OrgID, c.Principal.UserID, id, c.Actor)
}
