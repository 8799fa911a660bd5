// Package serpi is the client, wire types and simulator of the SERPI ERP
// catalog APIs (Sucursales, Impuesto, Articulo) documented in
// shared/seeds/serpi-*-api.txt.
package serpi

import (
	"encoding/json"

	"github.com/serfigas/brilla-gateway/backends/wire"
)

// Paths of the SERPI API, relative to the base URL (e.g.
// https://www.apis.serpi.com.co). They double as the simulator's stats keys.
const (
	PathSucursales = "/api/v1/Sucursales"
	PathImpuesto   = "/api/v1/Impuesto"
	PathArticulo   = "/api/v1/Articulo"
)

// Credential is what SERPI requires on every call: the client's secret key
// (header "secretkey") and an access token (header "Authorization: Bearer").
// SERPI refuses a token that is already in use by another call.
type Credential struct {
	SecretKey string
	Token     string
}

// Envelope is SERPI's answer on every endpoint. Code may disagree with the
// HTTP status (201 or 204 with "No se encontraron registros", 204 in a
// failed PUT); Result is absent, null, [] or an array of records.
type Envelope struct {
	Success bool            `json:"success"`
	Code    wire.Int        `json:"code"`
	Errors  wire.Messages   `json:"errors"`
	Message string          `json:"message"`
	Result  json.RawMessage `json:"result,omitempty"`
}

// PageQuery selects one page of a collection (query parameters "limite"
// and "pagina"; pages count from 1). Zero values let SERPI choose.
type PageQuery struct {
	Limit int
	Page  int
}

// ArticuloQuery adds Articulo's "codigo" filter to a page query.
type ArticuloQuery struct {
	PageQuery
	Codigo string
}

// Sucursal is a branch of a third party (tercero).
type Sucursal struct {
	ID                  wire.Int  `json:"id,omitzero"`
	IDTercero           wire.Int  `json:"id_tercero"`
	NitTercero          wire.Text `json:"nit_tercero"`
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
	CodigoCiudad        wire.Text `json:"codigo_ciudad"`
	IDDepartamento      wire.Int  `json:"id_departamento"`
	CodigoDepartamento  wire.Text `json:"codigo_departamento"`
	IDPais              wire.Int  `json:"id_pais"`
	CodigoPais          wire.Text `json:"codigo_pais"`
	IDVendedor          wire.Int  `json:"id_vendedor"`
	IDCobrador          wire.Int  `json:"id_cobrador"`
	EsDireccionCobro    wire.Bool `json:"es_direccionCobro"`
	EsDireccionDespacho wire.Bool `json:"es_direccionDespacho"`
}

// Impuesto is a tax.
type Impuesto struct {
	ID                       wire.Int     `json:"id,omitzero"`
	Descripcion              wire.Text    `json:"descripcion"`
	Valor                    wire.Decimal `json:"valor"`
	Aplica                   wire.Int     `json:"aplica"`
	Base                     wire.Decimal `json:"_base"`
	CuentaImpuesto           wire.Int     `json:"cuenta_impuesto"`
	CuentaImpuestoDevolucion wire.Int     `json:"cuenta_impuesto_devolucion"`
	CuentaImpuestoBonificado wire.Int     `json:"cuenta_impuesto_bonificado"`
}

// Articulo is a catalog article.
type Articulo struct {
	ID                    wire.Int        `json:"id,omitzero"`
	Codigo                wire.Text       `json:"codigo"`
	Referencia            wire.Text       `json:"referencia"`
	Barras                wire.Text       `json:"barras"`
	Descripcion           wire.Text       `json:"descripcion"`
	IDGrupoContable       wire.Int        `json:"idgrupocontable"`
	DescripcionAlterna    wire.Text       `json:"descripcionalterna"`
	IDLinea               wire.Int        `json:"idlinea"`
	IDCategoria           wire.Int        `json:"idcategoria"`
	IDPresentacion        wire.Int        `json:"idpresentacion"`
	IDMarca               wire.Int        `json:"idmarca"`
	IDUnidadMedida        wire.Int        `json:"idunidadmedida"`
	Peso                  wire.Decimal    `json:"peso"`
	Costo                 wire.Decimal    `json:"costo"`
	CostoU                wire.Decimal    `json:"costou"`
	Activo                wire.Bool       `json:"activo"`
	PosicionArancel       wire.Text       `json:"posicionarancel"`
	PorcentajeArancel     wire.Decimal    `json:"porcentajeArancel"`
	DiasMaximo            wire.Int        `json:"diasMaximo"`
	DiasMinimo            wire.Int        `json:"diasminimo"`
	DiasOptimo            wire.Int        `json:"diasoptimo"`
	DiasReposicion        wire.Int        `json:"dias_reposicion"`
	TipoPlaneacion        wire.Int        `json:"tipoPlaneacion"`
	MultiploCompra        wire.Decimal    `json:"multiploCompra"`
	PedidoMinimo          wire.Decimal    `json:"pedidoMinimo"`
	StockMinimoUnidades   wire.Decimal    `json:"stockMinimoUnidades"`
	StockOptimoUnidades   wire.Decimal    `json:"stockOptimoUnidades"`
	AplicaPromocion       wire.Bool       `json:"aplicaPromocion"`
	AplicaKit             wire.Bool       `json:"aplicaKit"`
	Exportable            wire.Bool       `json:"exportable"`
	Volumen               wire.Decimal    `json:"volumen"`
	Ubicacion             wire.Decimal    `json:"ubicacion"`
	UbicacionAlfanumerica wire.Text       `json:"ubicacionAlfanumerica"`
	PalabrasClave         wire.Text       `json:"palabrasClave"` // comma-separated
	CamposPersonalizados  json.RawMessage `json:"camposPersonalizados,omitempty"`
	AplicaAiu             wire.Bool       `json:"aplicaAiu"`
	PorcentajeAiu         wire.Decimal    `json:"porcentajeAiu"`
	IDGrupoContableAiu    wire.Int        `json:"idgrupocontableAiu"`
}

// WriteResult is what a POST or PUT reports: SERPI's message ("registro
// creado exitosamente", "Se crearon 9 de 10 articulos") and any per-item
// errors it listed.
type WriteResult struct {
	Code    int
	Message string
	Errors  []string
}
