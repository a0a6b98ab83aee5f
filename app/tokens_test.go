package app_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/concertmaster/concertmaster/app"
	"github.com/concertmaster/concertmaster/app/authz"
	"github.com/concertmaster/concertmaster/platform/auth"
	"github.com/concertmaster/concertmaster/platform/fault"
	"github.com/concertmaster/concertmaster/sql/store"
)

// TestTokensUseCases creates, lists and revokes personal tokens as a page or the API would, and checks that a
// token is its owner's alone, that a personal token cannot manage tokens, and which field a refusal names.
func TestTokensUseCases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, _ := newStore(t)
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	a := app.New(app.Config{Store: st, Now: func() time.Time { return now }})
	member := func(email, org string, role store.Role) app.Caller {
		u, o, err := st.UserCreateWithOrganization(ctx, store.NewUser{Email: email, Name: email,
			PasswordHash: "x", OrganizationName: org, Role: role})
		if err != nil {
			t.Fatal(err)
		}
		return app.Caller{Principal: authz.Principal{UserID: u.ID, OrgID: o.ID, Role: authz.Role(role), Session: true},
			Actor: store.Actor{UserID: &u.ID}}
	}
	viewer := member("viewer@example.com", "Acme", store.RoleViewer)
	owner := member("owner@example.com", "Acme", store.RoleOwner)
	outsider := member("outsider@example.com", "Other", store.RoleOwner)
	viaToken := viewer
	viaToken.Principal.Session, viaToken.Principal.TokenID = false, new(uuid.New())

	tests := []struct {
		name   string
		caller app.Caller
		in     app.NewToken
		code   fault.Code
		field  string
	}{
		{"a viewer creates one", viewer, app.NewToken{Name: " deploy ", ExpiresInDays: 30, Scopes: []string{"read"}}, "", ""},
		{"a personal token may not", viaToken, app.NewToken{Name: "x", Scopes: []string{"read"}}, fault.Forbidden, ""},
		{"a name is required", viewer, app.NewToken{Name: "  ", Scopes: []string{"read"}}, fault.Invalid, "name"},
		{"a lifetime from the list", viewer, app.NewToken{Name: "x", ExpiresInDays: 7, Scopes: []string{"read"}}, fault.Invalid, "expires_in_days"},
		{"at least one scope", viewer, app.NewToken{Name: "x"}, fault.Invalid, "scopes"},
		{"known scopes", viewer, app.NewToken{Name: "x", Scopes: []string{"root"}}, fault.Invalid, "scopes"},
	}
	var created app.CreatedToken
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := a.Tokens.Create(ctx, tt.caller, tt.in)
			if tt.code != "" {
				wantFault(t, err, tt.code, tt.field)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Token.Name != "deploy" || !strings.HasPrefix(got.Secret, auth.PersonalTokenPrefix) ||
				got.Token.ExpiresAt == nil || !got.Token.ExpiresAt.Equal(now.Add(30*24*time.Hour)) {
				t.Fatalf("created %+v", got.Token)
			}
			created = got
		})
	}

	list, err := a.Tokens.List(ctx, viewer)
	if err != nil || len(list) != 1 || list[0].ID != created.Token.ID {
		t.Fatalf("the viewer's tokens %+v, %v", list, err)
	}
	if list, err := a.Tokens.List(ctx, owner); err != nil || len(list) != 0 {
		t.Fatalf("the owner sees another's tokens: %+v, %v", list, err)
	}
	if _, err := a.Tokens.List(ctx, viaToken); fault.CodeOf(err) != fault.Forbidden {
		t.Fatalf("a personal token lists tokens: %v", err)
	}
	for who, c := range map[string]app.Caller{"the owner": owner, "an outsider": outsider} {
		if err := a.Tokens.Revoke(ctx, c, created.Token.ID); fault.CodeOf(err) != fault.NotFound {
			t.Fatalf("%s revokes the viewer's token: %v", who, err)
		}
	}
	if err := a.Tokens.Revoke(ctx, viaToken, created.Token.ID); fault.CodeOf(err) != fault.Forbidden {
		t.Fatalf("a personal token revokes a token: %v", err)
	}
	if err := a.Tokens.Revoke(ctx, viewer, created.Token.ID); err != nil {
		t.Fatal(err)
	}
	if err := a.Tokens.Revoke(ctx, viewer, created.Token.ID); fault.CodeOf(err) != fault.NotFound {
		t.Fatalf("revoked twice: %v", err)
	}
}
