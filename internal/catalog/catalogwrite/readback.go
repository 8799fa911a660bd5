package catalogwrite

import (
	"strings"
	"time"

	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/backends/wire"
)

// Staleness says that other replicas could not be told of a write: they
// may serve the old value for up to MaxStale.
type Staleness struct {
	MaxStale time.Duration
}

// A created record is told apart from others by every field written:
// texts as SERPI's users compare them (trimmed, case-insensitively),
// decimals by value ("7.00" is "7.00000"), ids by value (null is 0, as the
// seeds' "null o 0" allows).

func sameInt(a, b wire.Int) bool {
	av, bv := int64(0), int64(0)
	if a.Valid {
		av = a.Value
	}
	if b.Valid {
		bv = b.Value
	}
	return av == bv
}

func sameDecimal(a, b wire.Decimal) bool { return decimalValue(a) == decimalValue(b) }

// decimalValue is d without trailing fractional zeros; "" (null) is 0.
func decimalValue(d wire.Decimal) string {
	s := string(d)
	if s == "" {
		return "0"
	}
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		return "0"
	}
	return s
}

func sameT(a, b wire.Text) bool { return sameText(string(a), string(b)) }

// sameTax reports whether stored holds every field of written.
func sameTax(written, stored serpi.Impuesto) bool {
	return sameT(written.Descripcion, stored.Descripcion) &&
		sameDecimal(written.Valor, stored.Valor) &&
		sameInt(written.Aplica, stored.Aplica) &&
		sameDecimal(written.Base, stored.Base) &&
		sameInt(written.CuentaImpuesto, stored.CuentaImpuesto) &&
		sameInt(written.CuentaImpuestoDevolucion, stored.CuentaImpuestoDevolucion) &&
		sameInt(written.CuentaImpuestoBonificado, stored.CuentaImpuestoBonificado)
}

// sameBranch reports whether stored holds every field of written.
func sameBranch(written, stored serpi.Sucursal) bool {
	texts := [][2]wire.Text{
		{written.NitTercero, stored.NitTercero}, {written.Codigo, stored.Codigo},
		{written.ReferenciaSucursal, stored.ReferenciaSucursal}, {written.Descripcion, stored.Descripcion},
		{written.Direccion, stored.Direccion}, {written.Direccion2, stored.Direccion2},
		{written.Telefono, stored.Telefono}, {written.Telefono2, stored.Telefono2},
		{written.Ext, stored.Ext}, {written.Ext2, stored.Ext2}, {written.Movil, stored.Movil},
		{written.CodigoCiudad, stored.CodigoCiudad}, {written.CodigoDepartamento, stored.CodigoDepartamento},
		{written.CodigoPais, stored.CodigoPais},
	}
	for _, t := range texts {
		if !sameT(t[0], t[1]) {
			return false
		}
	}
	ints := [][2]wire.Int{
		{written.IDTercero, stored.IDTercero}, {written.IDCiudad, stored.IDCiudad},
		{written.IDDepartamento, stored.IDDepartamento}, {written.IDPais, stored.IDPais},
		{written.IDVendedor, stored.IDVendedor}, {written.IDCobrador, stored.IDCobrador},
	}
	for _, i := range ints {
		if !sameInt(i[0], i[1]) {
			return false
		}
	}
	return written.EsDireccionCobro == stored.EsDireccionCobro && written.EsDireccionDespacho == stored.EsDireccionDespacho
}
