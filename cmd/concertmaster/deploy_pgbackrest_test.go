package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPgBackRestConfigArchivesAndBacksUp runs Debian's pgBackRest with the shipped deploy/pgbackrest/pgbackrest.conf
// against a private cluster that archives its WAL through it: stanza-create, check (a WAL segment really archived)
// and a full backup that info then lists. Only the host's paths are changed in a copy of the file, as an operator
// would change them; every other setting (encryption, compression, async archiving, retention) is the shipped one.
func TestPgBackRestConfigArchivesAndBacksUp(t *testing.T) {
	bin := opsTool(t, "TEST_PGBACKREST", "pgbackrest")
	c := startPrivateCluster(t)
	work := filepath.Join(filepath.Dir(c.data), "pgbackrest")
	shipped, err := os.ReadFile("../../deploy/pgbackrest/pgbackrest.conf")
	if err != nil {
		t.Fatal(err)
	}
	// The host's paths, set in a copy of the shipped file as an operator would set them.
	hostPaths := map[string]string{"repo1-path": filepath.Join(work, "repo"), "spool-path": filepath.Join(work, "spool"),
		"pg1-path": c.data, "pg1-port": c.port, "pg1-socket-path": filepath.Dir(c.data)}
	var lines []string
	for _, line := range strings.Split(string(shipped), "\n") {
		if name, _, ok := strings.Cut(line, "="); ok && hostPaths[name] != "" {
			line = name + "=" + hostPaths[name]
			delete(hostPaths, name)
		}
		lines = append(lines, line)
		if line == "[global]" { // not in the shipped file: Debian's defaults need root-owned folders
			lines = append(lines, "log-path="+filepath.Join(work, "log"), "lock-path="+filepath.Join(work, "lock"))
		}
	}
	if len(hostPaths) > 0 {
		t.Fatalf("the shipped file lacks %v", hostPaths)
	}
	if err := os.Mkdir(work, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "pgbackrest.conf"), []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Getuid() == 0 {
		if out, err := exec.Command("chown", "-R", "postgres:", work).CombinedOutput(); err != nil {
			t.Fatalf("chown: %v %s", err, out)
		}
	}
	options := []string{"--config=" + filepath.Join(work, "pgbackrest.conf"), "--stanza=concertmaster"}
	pgbackrest := func(command ...string) string {
		t.Helper()
		args := append(append([]string{}, options...), command...)
		cmd := exec.Command(bin, args...)
		if os.Getuid() == 0 {
			cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", bin}, args...)...)
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("pgbackrest %s: %v\n%s", strings.Join(command, " "), err, out)
		}
		return string(out)
	}

	// Archive WAL through pgBackRest, as the README has the production cluster do.
	conf, err := os.OpenFile(filepath.Join(c.data, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = conf.WriteString("\nwal_level = replica\narchive_mode = on\narchive_command = '" + bin + " " +
		strings.Join(options, " ") + " archive-push %p'\n")
	conf.Close()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := c.pgCtl("-l", c.logFile(), "-w", "-t", "60", "restart"); err != nil {
		t.Fatalf("pg_ctl restart: %v\n%s", err, out)
	}
	c.createDatabase(t, "backed")

	pgbackrest("stanza-create")
	pgbackrest("check")
	pgbackrest("backup", "--type=full")
	var info []struct {
		Backup []struct {
			Type string `json:"type"`
		} `json:"backup"`
		Status struct {
			Code int `json:"code"`
		} `json:"status"`
	}
	out := pgbackrest("info", "--output=json")
	if err := json.Unmarshal([]byte(out), &info); err != nil {
		t.Fatalf("pgbackrest info: %v\n%s", err, out)
	}
	if len(info) != 1 || info[0].Status.Code != 0 || len(info[0].Backup) != 1 || info[0].Backup[0].Type != "full" {
		t.Fatalf("pgbackrest info after a full backup: %s", out)
	}
}
