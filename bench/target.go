package main

import (
	"fmt"
	"net/url"
	"strings"

	"fanout/bench/harness"
)

// TokenEnv is the environment variable that holds the token bench sends to
// a gateway it did not start (-target, bench attack), as in the README's
// examples: a token on the command line would show in the process list.
const TokenEnv = harness.TokenEnv

// parseTarget checks a gateway's root URL: http or https, a host, no query.
func parseTarget(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%q: %w", raw, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%q: want the gateway's root URL, such as http://gateway.internal:8080", raw)
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

// parseMockAdmin reads "name=URL,name=URL": each mock's address, where its
// service and its admin API answer. It returns host:port by name.
func parseMockAdmin(raw string) (map[string]string, error) {
	if raw == "" {
		return nil, nil
	}
	out := map[string]string{}
	for item := range strings.SplitSeq(raw, ",") {
		name, addr, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok || name == "" || addr == "" {
			return nil, fmt.Errorf("%q is not name=URL", item)
		}
		u, err := url.Parse(addr)
		if err != nil || u.Scheme != "http" || u.Host == "" || strings.Trim(u.Path, "/") != "" {
			return nil, fmt.Errorf("%s: %q: want http://HOST:PORT, the mock's own address", name, addr)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("%s appears twice", name)
		}
		out[name] = u.Host
	}
	return out, nil
}
