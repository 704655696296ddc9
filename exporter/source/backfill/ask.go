package backfill

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// Ask posts req to the /-/import of the exporter at base and copies its
// progress to progress until its result.
func Ask(ctx context.Context, base string, req Request, progress io.Writer) (Summary, error) {
	var sum Summary
	body, _ := json.Marshal(req)
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/-/import", strings.NewReader(string(body)))
	if err != nil {
		return sum, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		return sum, fmt.Errorf("asking the exporter at %s: %w", base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return sum, fmt.Errorf("the exporter at %s answered %s: %s", base, resp.Status, strings.TrimSpace(string(answer)))
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, ResultPrefix); ok {
			var res Result
			if err := json.Unmarshal([]byte(rest), &res); err != nil {
				return sum, fmt.Errorf("reading the exporter's result: %w", err)
			}
			if res.Error != "" {
				return res.Summary, errors.New(res.Error)
			}
			return res.Summary, nil
		}
		fmt.Fprintln(progress, line)
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return sum, fmt.Errorf("the exporter's answer broke off: %w", err)
	}
	return sum, errors.New("the exporter's answer ended without a result (was it stopped?): run the same command again to continue")
}
