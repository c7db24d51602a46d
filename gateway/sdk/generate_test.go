package sdk_test

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"fanout/gateway/assembly"
)

// generator returns the oapi-codegen command of generate.go's go:generate
// line, so that the test runs the very command (and pinned version) that
// go generate runs.
func generator(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("generate.go")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "//go:generate ")
		if ok && strings.Contains(line, "oapi-codegen@") {
			return strings.Fields(line)
		}
	}
	t.Fatal("generate.go has no go:generate line running oapi-codegen")
	return nil
}

// TestGeneratedCodeIsCurrent: the committed document is the gateway's
// public view, and the committed client is what oapi-codegen makes of it
// now. Either one stale fails with the command that refreshes both.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("runs oapi-codegen through go run: not with -short")
	}
	const fix = "the SDK is stale: run go generate ./gateway/sdk"
	s, err := assembly.Spec()
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed, s.PublicYAML()) {
		t.Errorf("openapi.yaml is not the gateway's public document: %s", fix)
	}

	// The generator runs in a directory of its own, over the public
	// document of the gateway as built, with the committed config.
	dir := t.TempDir()
	config, err := os.ReadFile("oapi-codegen.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"oapi-codegen.yaml": config, "openapi.yaml": s.PublicYAML()} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args := generator(t)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	fresh, err := os.ReadFile(filepath.Join(dir, "client.gen.go"))
	if err != nil {
		t.Fatal(err)
	}
	current, err := os.ReadFile("client.gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fresh, current) {
		t.Errorf("client.gen.go (%d bytes) is not what oapi-codegen makes of the public document (%d bytes): %s", len(current), len(fresh), fix)
	}
}
