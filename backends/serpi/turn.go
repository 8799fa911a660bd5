package serpi

import (
	"context"
	"errors"
	"net/http"

	"github.com/serfigas/brilla-gateway/backends/serializer"
	"github.com/serfigas/brilla-gateway/backends/upstream"
	"github.com/serfigas/brilla-gateway/backends/wire"
)

// InTurn runs fn holding cred's token turn: every call fn makes with the
// context it is given runs inside that one turn, so no other call with the
// token (from this process or, with a shared serializer, any replica)
// comes between them. Catalog writes use it to read the current record,
// write and read back with nothing in between.
//
// A failure to get the turn is an *upstream.Error (KindUnavailable) whose
// cause matches serializer.ErrWaitTimeout or the serializer's own error;
// fn did not run. fn's own error is returned unchanged.
func (c *Client) InTurn(ctx context.Context, cred Credential, fn func(ctx context.Context) error) error {
	if cred.SecretKey == "" || cred.Token == "" {
		return newError(cred, "turn", upstream.KindUnauthorized, 0, "", "missing SERPI secret key or token", nil, nil)
	}
	ran := false
	err := c.serializer.Do(ctx, serializerKey(cred.Token), func(ctx context.Context) error {
		ran = true
		return fn(ctx)
	})
	if ran || err == nil {
		return err
	}
	if errors.Is(err, serializer.ErrWaitTimeout) {
		return newError(cred, "turn", upstream.KindUnavailable, 0, "",
			"gave up waiting for the previous SERPI call with this token to finish", nil, err)
	}
	return newError(cred, "turn", upstream.KindUnavailable, 0, "", "could not take the SERPI token's turn", nil, err)
}

// sucursalPut is a branch in the shape of the seed's PUT example, which
// leaves out nit_tercero, codigo_ciudad, codigo_departamento and
// codigo_pais: SERPI derives them from the ids, and sending them empty
// would ask it to store empty codes.
type sucursalPut struct {
	ID                  wire.Int  `json:"id"`
	IDTercero           wire.Int  `json:"id_tercero"`
	Codigo              wire.Text `json:"codigo"`
	ReferenciaSucursal  wire.Text `json:"referencia_sucursal"`
	Descripcion         wire.Text `json:"descripcion"`
	Direccion           wire.Text `json:"direccion"`
	Direccion2          wire.Text `json:"direccion2"`
	Telefono            wire.Text `json:"telefono"`
	Telefono2           wire.Text `json:"telefono2"`
	Ext                 wire.Text `json:"ext"`
	Ext2                wire.Text `json:"ext2"`
	Movil               wire.Text `json:"movil"`
	IDCiudad            wire.Int  `json:"id_ciudad"`
	IDDepartamento      wire.Int  `json:"id_departamento"`
	IDPais              wire.Int  `json:"id_pais"`
	IDVendedor          wire.Int  `json:"id_vendedor"`
	IDCobrador          wire.Int  `json:"id_cobrador"`
	EsDireccionCobro    wire.Bool `json:"es_direccionCobro"`
	EsDireccionDespacho wire.Bool `json:"es_direccionDespacho"`
}

func putShape(s Sucursal) sucursalPut {
	return sucursalPut{
		ID: s.ID, IDTercero: s.IDTercero, Codigo: s.Codigo, ReferenciaSucursal: s.ReferenciaSucursal,
		Descripcion: s.Descripcion, Direccion: s.Direccion, Direccion2: s.Direccion2,
		Telefono: s.Telefono, Telefono2: s.Telefono2, Ext: s.Ext, Ext2: s.Ext2, Movil: s.Movil,
		IDCiudad: s.IDCiudad, IDDepartamento: s.IDDepartamento, IDPais: s.IDPais,
		IDVendedor: s.IDVendedor, IDCobrador: s.IDCobrador,
		EsDireccionCobro: s.EsDireccionCobro, EsDireccionDespacho: s.EsDireccionDespacho,
	}
}

// updateSucursal sends s in the PUT shape.
func (c *Client) updateSucursal(ctx context.Context, cred Credential, s Sucursal) (*WriteResult, error) {
	return c.write(ctx, cred, http.MethodPut, PathSucursales, putShape(s))
}
