package serializer

import (
	"testing"

	"github.com/serfigas/brilla-gateway/internal/redistest"
)

// TestMain gives this test binary a Redis of its own (see redistest).
func TestMain(m *testing.M) { redistest.Main(m) }
