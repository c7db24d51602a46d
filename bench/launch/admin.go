package launch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"fanout/mockbackends/model"
)

// adminClient talks to the mock backends' admin API (/_admin/...), which
// answers at once: a stuck call is a broken mock, not a slow one.
var adminClient = &http.Client{Timeout: 10 * time.Second}

// SetModel replaces the model of mock service svc, served at addr
// (host:port), as PUT /_admin/config does: atomically, and an invalid model
// is refused with the field it names and the old one kept.
func SetModel(ctx context.Context, addr, svc string, s model.Service) error {
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("set model of %s: %w", svc, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, "http://"+addr+"/_admin/config", bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("set model of %s: %w", svc, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := adminClient.Do(req)
	if err != nil {
		return fmt.Errorf("set model of %s: %w", svc, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("set model of %s: %s: %s", svc, resp.Status, bytes.TrimSpace(body))
	}
	return nil
}

// GetJSON decodes the JSON answer of GET url into v: the mocks' stats and
// config, the gateway's admin endpoints. A status other than 200 is an error.
func GetJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := adminClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
