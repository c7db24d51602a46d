// Command publicdoc writes the public view of the gateway's OpenAPI
// document, the one the gateway serves at /openapi.yaml and /openapi.json
// (the document minus its x- extensions), for the tools that work from
// what clients see: the linter of make lint-spec and the SDK generator of
// gateway/sdk.
//
//	go run ./gateway/publicdoc [-json] [-o FILE]
//
// Without -o it writes to standard output.
package main

import (
	"flag"
	"fmt"
	"os"

	"fanout/gateway/assembly"
)

func main() {
	asJSON := flag.Bool("json", false, "write JSON rather than YAML")
	out := flag.String("o", "", "write to `FILE` rather than standard output")
	flag.Parse()
	if err := run(*out, *asJSON); err != nil {
		fmt.Fprintln(os.Stderr, "publicdoc:", err)
		os.Exit(1)
	}
}

func run(out string, asJSON bool) error {
	s, err := assembly.Spec()
	if err != nil {
		return err
	}
	doc := s.PublicYAML()
	if asJSON {
		doc = s.PublicJSON()
	}
	if out == "" {
		_, err = os.Stdout.Write(doc)
		return err
	}
	if err := os.WriteFile(out, doc, 0o644); err != nil {
		return fmt.Errorf("write the public document: %w", err)
	}
	return nil
}
