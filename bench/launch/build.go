package launch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
)

// CacheDir is where Build keeps binaries: os.TempDir()/fanout-bin.
func CacheDir() string { return filepath.Join(os.TempDir(), "fanout-bin") }

// buildMu serialises builds within one process; a lock file serialises
// them across processes (go test runs the packages' test binaries in
// parallel, and several of them build the same binaries), and the atomic
// rename means a reader never sees half a binary.
var buildMu sync.Mutex

// Build compiles the main package pkg of the module in the current directory
// (or an ancestor) and returns the path of the binary. pkg is a directory
// relative to the module root ("./gateway", "./mockbackends"), an absolute
// directory, or an import path of the module ("fanout/gateway").
//
// The binary is cached under CacheDir, keyed by a hash of every source and
// embedded file of the module's packages that pkg depends on, go.mod, go.sum
// and the Go version: a second Build of an unchanged tree only hashes files.
func Build(ctx context.Context, pkg string) (string, error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	root, err := ModuleRoot(ctx)
	if err != nil {
		return "", fmt.Errorf("build %s: %w", pkg, err)
	}
	key, name, err := sourceKey(ctx, root, pkg)
	if err != nil {
		return "", fmt.Errorf("build %s: %w", pkg, err)
	}
	bin := filepath.Join(CacheDir(), name+"-"+key[:16])
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(CacheDir(), 0o755); err != nil {
		return "", fmt.Errorf("build %s: %w", pkg, err)
	}
	unlock, err := lockFile(filepath.Join(CacheDir(), name+".lock"))
	if err != nil {
		return "", fmt.Errorf("build %s: %w", pkg, err)
	}
	defer unlock()
	// Another process may have built it while this one waited for the lock.
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	tmp, err := os.CreateTemp(CacheDir(), name+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("build %s: %w", pkg, err)
	}
	tmpName := tmp.Name()
	_ = tmp.Close()
	defer os.Remove(tmpName) // a no-op after the rename
	cmd := exec.CommandContext(ctx, "go", "build", "-o", tmpName, pkg)
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("build %s: %w\n%s", pkg, err, strings.TrimSpace(out.String()))
	}
	if err := os.Rename(tmpName, bin); err != nil {
		return "", fmt.Errorf("build %s: %w", pkg, err)
	}
	return bin, nil
}

// lockFile takes an exclusive flock on path, waiting for it, and returns
// the function that releases it.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}, nil
}

// Module is the module path of Fanout's go.mod: the repository whose
// sources the bench builds and whose scenarios it runs.
const Module = "fanout"

// ModuleRoot returns the root of Fanout's repository: the directory of the
// go.mod that governs the current directory, when it is Fanout's, else
// the repository that holds the running executable (bin/bench run from
// another directory), found by walking up from it. The error says where
// it looked.
func ModuleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("find Fanout's repository: go env GOMOD: %w", err)
	}
	if gomod := strings.TrimSpace(string(out)); gomod != "" && gomod != os.DevNull && isFanout(gomod) {
		return filepath.Dir(gomod), nil
	}
	exe, err := os.Executable()
	if err == nil {
		exe, err = filepath.EvalSymlinks(exe)
	}
	if err == nil {
		for d := filepath.Dir(exe); ; d = filepath.Dir(d) {
			if isFanout(filepath.Join(d, "go.mod")) {
				return d, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	wd, _ := os.Getwd()
	return "", fmt.Errorf("find Fanout's repository: neither the current directory (%s) nor the directory of this executable (%s) is inside it: "+
		"run bench from the repository's checkout, or the bin/bench that make bench builds there", wd, exe)
}

// isFanout reports whether gomod is a go.mod file of module Module.
func isFanout(gomod string) bool {
	b, err := os.ReadFile(gomod)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`) == Module
		}
	}
	return false
}

// listedPackage is the part of `go list -json` output that the key needs.
type listedPackage struct {
	Dir        string
	ImportPath string
	Name       string
	Standard   bool
	Module     *struct{ Main bool }
	GoFiles    []string
	CgoFiles   []string
	EmbedFiles []string
	SFiles     []string
}

// sourceKey hashes what a build of pkg depends on within the module. Modules
// outside it are pinned by go.sum, which is hashed too.
func sourceKey(ctx context.Context, root, pkg string) (key, name string, err error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-deps", "-json=Dir,ImportPath,Name,Standard,Module,GoFiles,CgoFiles,EmbedFiles,SFiles", pkg)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", "", fmt.Errorf("go list %s: %w: %s", pkg, err, strings.TrimSpace(stderr.String()))
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	for _, f := range []string{"go.mod", "go.sum"} {
		if err := hashFile(h, filepath.Join(root, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", "", err
		}
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	var last listedPackage
	for dec.More() {
		var p listedPackage
		if err := dec.Decode(&p); err != nil {
			return "", "", fmt.Errorf("go list %s: %w", pkg, err)
		}
		last = p
		if p.Standard || p.Module == nil || !p.Module.Main {
			continue
		}
		fmt.Fprintf(h, "package %s\n", p.ImportPath)
		for _, list := range [][]string{p.GoFiles, p.CgoFiles, p.EmbedFiles, p.SFiles} {
			for _, f := range list {
				fmt.Fprintf(h, "file %s\n", f)
				if err := hashFile(h, filepath.Join(p.Dir, f)); err != nil {
					return "", "", err
				}
			}
		}
	}
	// go list -deps prints the named package last.
	if last.Name != "main" {
		return "", "", fmt.Errorf("%s is package %q, not a command", pkg, last.Name)
	}
	name = path.Base(last.ImportPath)
	return hex.EncodeToString(h.Sum(nil)), name, nil
}

func hashFile(w io.Writer, name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.Copy(w, f); err != nil {
		return fmt.Errorf("hash %s: %w", name, err)
	}
	return nil
}
