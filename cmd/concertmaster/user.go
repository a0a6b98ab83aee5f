package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/mail"
	"strings"

	"github.com/concertmaster/concertmaster/platform/auth"
	"github.com/concertmaster/concertmaster/sql/store"
)

// userCommand implements `concertmaster user create`: a user for scripts and first set-up, with the
// organization created when it does not exist yet.
func userCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return fmt.Errorf("usage: concertmaster user create --email E --password P --name N --org O [--role owner] [--instance-admin]")
	}
	fs := flag.NewFlagSet("user create", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	email := fs.String("email", "", "e-mail address (sign-in name)")
	password := fs.String("password", "", "password")
	name := fs.String("name", "", "display name")
	org := fs.String("org", "", "organization name; created when new")
	role := fs.String("role", string(store.RoleOwner), "role in the organization: owner, admin, member or viewer")
	instanceAdmin := fs.Bool("instance-admin", false, "may administer the whole instance (job monitor)")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("user create: %w", err)
	}

	var problems []string
	if _, err := mail.ParseAddress(*email); err != nil || strings.ContainsAny(*email, "<> ") {
		problems = append(problems, "--email: want an e-mail address")
	}
	if strings.TrimSpace(*name) == "" {
		problems = append(problems, "--name: required")
	}
	if store.Slugify(*org) == "" {
		problems = append(problems, "--org: want a name with at least one letter or digit")
	}
	if !store.Role(*role).Valid() {
		problems = append(problems, "--role: want owner, admin, member or viewer")
	}
	if err := auth.CheckPasswordPolicy(*password); err != nil {
		problems = append(problems, fmt.Sprintf("--password: must be %d to %d characters", auth.MinPasswordLength, auth.MaxPasswordBytes))
	}
	if len(problems) > 0 {
		return fmt.Errorf("user create: %s", strings.Join(problems, "; "))
	}

	cfg, err := loadConfig(getenv, configNeeds{})
	if err != nil {
		return err
	}
	pool, err := openPool(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()

	hash, err := auth.HashPassword(*password)
	if err != nil {
		return err
	}
	st, err := store.New(pool)
	if err != nil {
		return err
	}
	user, organization, err := st.UserCreateWithOrganization(ctx, store.NewUser{
		Email: *email, Name: *name, PasswordHash: hash, InstanceAdmin: *instanceAdmin,
		OrganizationName: *org, Role: store.Role(*role), By: store.SystemActor,
	})
	if err != nil {
		return fmt.Errorf("user create: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "created user %s (%s) as %s of %s (%s)\n", user.Email, user.ID, *role, organization.Name, organization.Slug)
	return err
}
