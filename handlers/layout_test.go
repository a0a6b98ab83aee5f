package handlers

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/concertmaster/concertmaster"

// goList runs `go list` from the module's root with args and returns its output's lines.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// TestPackageBoundaries checks the layering the packages' doc comments state: no handler package imports sql/db
// (the store is the one adapter over it), no surface (pages, api, public, admin) imports another and httpx imports
// none; engine reaches no handlers, app, store or views; views reach no store.
func TestPackageBoundaries(t *testing.T) {
	t.Parallel()
	surfaces := []string{"pages", "api", "public", "admin"}
	for _, line := range goList(t, "-f", `{{.ImportPath}} {{join .Imports " "}}`, "./handlers/...") {
		pkg, imports, _ := strings.Cut(line, " ")
		for _, imp := range strings.Fields(imports) {
			if imp == module+"/sql/db" {
				t.Errorf("%s imports sql/db: go through sql/store", pkg)
			}
			for _, s := range surfaces {
				if imp == module+"/handlers/"+s && pkg != module+"/handlers" {
					t.Errorf("%s imports the %s surface: shared code goes to httpx or app", pkg, s)
				}
			}
		}
	}
	forbidden := map[string][]string{
		"./engine/...": {"/handlers", "/app", "/sql/store", "/views"},
		"./views/...":  {"/sql/store"},
	}
	for pattern, bad := range forbidden {
		for _, dep := range goList(t, "-deps", pattern) {
			for _, b := range bad {
				if dep == module+b || strings.HasPrefix(dep, module+b+"/") {
					t.Errorf("%s depends on %s", pattern, dep)
				}
			}
		}
	}
}

// maxFunctionLines is the longest a function may be; route tables (routes, Routes) and the OpenAPI route
// descriptions (…RouteDescriptions), which are lists, are exempt.
const maxFunctionLines = 100

// TestFunctionLength keeps every function of the module short enough to read at once; generated code (sqlc's
// sql/db, templ's *_templ.go) and tests are left out.
func TestFunctionLength(t *testing.T) {
	t.Parallel()
	fset := token.NewFileSet()
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != ".." && (path == "../sql/db" || d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || strings.HasSuffix(path, "_templ.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || slices.Contains([]string{"routes", "Routes"}, fn.Name.Name) ||
				strings.HasSuffix(fn.Name.Name, "RouteDescriptions") {
				continue
			}
			if n := fset.Position(fn.End()).Line - fset.Position(fn.Pos()).Line + 1; n > maxFunctionLines {
				t.Errorf("%s: %s is %d lines (at most %d)", path, fn.Name.Name, n, maxFunctionLines)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
