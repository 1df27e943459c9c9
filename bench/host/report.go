package host

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/tandem-run/tandem/internal/atomicfile"
)

// WriteReport writes a run's report into dir as name.json (rep) and
// name.md (markdown), each atomically.
func WriteReport(dir, name string, rep any, markdown string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write the report: %w", err)
	}
	if err := atomicfile.WriteJSON(filepath.Join(dir, name+".json"), rep, 0o644); err != nil {
		return fmt.Errorf("write the report: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, name+".md"), []byte(markdown), 0o644); err != nil {
		return fmt.Errorf("write the report: %w", err)
	}
	return nil
}
