package server_test

import (
	"testing"

	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/backends/sim"
)

// SERPI holds third-party NITs as people type them; a customer's branches
// are found whatever the dots, spaces or check digit.
func TestCustomerBranchesMatchNITsHoweverWritten(t *testing.T) {
	e := newEnvWith(t, sim.Config{Serpi: serpi.SimConfig{Branches: 120, CustomerNITs: []string{
		"123.456.789-6", // 6 is DIAN's check digit of 123456789
		"987 654 321",
		"987654321-0", // not 987654321's check digit (7): another number
	}}})
	for _, tc := range []struct {
		vat, contract string
		want          map[string]bool // NITs as SERPI writes them
	}{
		{"123456789", "12345678", map[string]bool{"123.456.789-6": true}},
		{"987654321", "87654321", map[string]bool{"987 654 321": true}},
	} {
		t.Run(tc.vat, func(t *testing.T) {
			tok := e.signIn(tc.vat, tc.contract)
			var out struct {
				Viewer struct {
					Branches []struct {
						ID         string
						ThirdParty struct{ Nit string }
					}
				}
			}
			e.do(`{ viewer { branches { id thirdParty { nit } } } }`, nil, bearer(tok)).ok(t, &out)
			if len(out.Viewer.Branches) < 3 {
				t.Fatalf("%d branches; the simulator pins 3 to each customer NIT", len(out.Viewer.Branches))
			}
			for _, b := range out.Viewer.Branches {
				if !tc.want[b.ThirdParty.Nit] {
					t.Errorf("branch %s of NIT %q", b.ID, b.ThirdParty.Nit)
				}
			}
		})
	}
}
