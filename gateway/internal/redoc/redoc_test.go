package redoc

import (
	"bytes"
	"testing"
)

// TestScriptIsOffline: the one URL of another host that the bundle loads,
// its logo, is replaced. A new Redoc that moves or renames it fails here
// (and the browser test says what the page loads instead).
func TestScriptIsOffline(t *testing.T) {
	if !bytes.Contains(bundle, []byte(cdnLogo)) {
		t.Fatalf("the bundle no longer loads %s: see what it loads now (TestDocsPage) and update cdnLogo", cdnLogo)
	}
	if bytes.Contains(Script, []byte(cdnLogo)) || !bytes.Contains(Script, []byte(offlineLogo)) {
		t.Error("Script still loads the CDN logo")
	}
	if len(Script) != len(bundle)-len(cdnLogo)+len(offlineLogo) {
		t.Errorf("Script has %d bytes, the bundle %d: more than the logo changed", len(Script), len(bundle))
	}
}
