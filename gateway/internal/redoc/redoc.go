// Package redoc holds the API reference page the gateway serves at /docs:
// Redoc's standalone bundle, embedded in the binary so that the page needs
// no CDN and works offline, and the HTML page that runs it over the public
// document. README.md says where the bundle comes from and under which
// licence.
package redoc

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
)

// Version is the version of the embedded Redoc bundle.
const Version = "2.5.4"

// bundle is Redoc's standalone bundle, bundles/redoc.standalone.js of the
// npm package redoc@Version, unchanged.
//
//go:embed redoc.standalone.js
var bundle []byte

// The bundle loads one thing from elsewhere: the Redocly logo at the foot
// of its menu, from a CDN, whatever the options. Offline, or under the
// page's Content-Security-Policy, that load fails with an error in the
// console; Script replaces it with an empty image. The browser test checks
// that the page loads nothing from another host.
const (
	cdnLogo     = `"https://cdn.redoc.ly/redoc/logo-mini.svg"`
	offlineLogo = `"data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='1' height='1'/%3E"`
)

// Script is the bundle the page runs: Redoc's, with its CDN logo replaced
// by an empty image. It is shared: callers must not modify it.
var Script = bytes.Replace(bundle, []byte(cdnLogo), []byte(offlineLogo), 1)

// page is the reference page. Its URLs are relative, so that it works
// behind a proxy that mounts the gateway under a prefix: from /docs,
// "openapi.json" is /openapi.json. The empty icon spares the browser a
// request for /favicon.ico, which the gateway does not serve.
var page = template.Must(template.New("docs").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<link rel="icon" href="data:,">
<style>body { margin: 0; padding: 0; }</style>
</head>
<body>
<redoc spec-url="{{.SpecURL}}"></redoc>
<script src="{{.ScriptURL}}"></script>
</body>
</html>
`))

// Page returns the HTML of a reference page titled title that renders the
// document at specURL with the bundle served at scriptURL; both URLs are
// resolved against the page's own.
func Page(title, specURL, scriptURL string) ([]byte, error) {
	var b bytes.Buffer
	err := page.Execute(&b, struct{ Title, SpecURL, ScriptURL string }{title, specURL, scriptURL})
	if err != nil {
		return nil, fmt.Errorf("render the reference page: %w", err)
	}
	return b.Bytes(), nil
}
