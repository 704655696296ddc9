package influx

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/flespi-exporter/flespi-exporter/config"
)

// FieldTypes reads the field types InfluxDB holds for each measurement
// (InfluxQL SHOW FIELD KEYS, which InfluxDB 1.8 and 2.x both answer on
// /query; a 2.x bucket is its own database there): measurement → field →
// float, integer, string, boolean or unsigned. A measurement InfluxDB
// does not have yet is absent.
func FieldTypes(ctx context.Context, cfg config.InfluxDB, measurements []string) (map[string]map[string]string, error) {
	db, rp, _ := strings.Cut(cfg.Bucket, "/")
	var stmts []string
	for _, m := range measurements {
		stmts = append(stmts, "SHOW FIELD KEYS FROM "+quoteIdent(m))
	}
	q := url.Values{"db": {db}, "q": {strings.Join(stmts, "; ")}}
	if rp != "" {
		q.Set("rp", rp)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(cfg.URL, "/")+"/query?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	if cfg.Token != "" {
		req.Header.Set("Authorization", "Token "+cfg.Token)
	}
	client := &http.Client{Timeout: max(time.Duration(cfg.Timeout), time.Second)}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("InfluxDB answered %s to SHOW FIELD KEYS: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	var out struct {
		Results []struct {
			Series []struct {
				Name   string     `json:"name"`
				Values [][]string `json:"values"`
			} `json:"series"`
			Error string `json:"error"`
		} `json:"results"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("reading InfluxDB's answer to SHOW FIELD KEYS: %w", err)
	}
	held := map[string]map[string]string{}
	for _, r := range out.Results {
		if r.Error != "" {
			return nil, fmt.Errorf("SHOW FIELD KEYS: %s", r.Error)
		}
		for _, s := range r.Series {
			for _, v := range s.Values {
				if len(v) == 2 {
					if held[s.Name] == nil {
						held[s.Name] = map[string]string{}
					}
					held[s.Name][v[0]] = v[1]
				}
			}
		}
	}
	return held, nil
}

// quoteIdent quotes an InfluxQL identifier.
func quoteIdent(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// CheckFieldTypes compares cfg's rules with the field types InfluxDB
// already holds and returns a warning, "file:line: key: message", for
// each rule whose values InfluxDB would refuse: a type changed since the
// field was first written. It needs influxdb.url.
func CheckFieldTypes(ctx context.Context, cfg *config.Loaded) ([]string, error) {
	if cfg.InfluxDB.URL == "" {
		return nil, errors.New("influxdb.url is empty: there is no InfluxDB to compare the rules with")
	}
	held, err := FieldTypes(ctx, cfg.InfluxDB, cfg.Mapping.Measurements())
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range cfg.Mapping.TypeConflicts(held) {
		out = append(out, cfg.Locate(e))
	}
	return out, nil
}
