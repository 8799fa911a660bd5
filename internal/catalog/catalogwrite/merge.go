package catalogwrite

import (
	"encoding/json"
	"fmt"

	"github.com/99designs/gqlgen/graphql"

	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/backends/wire"
	"github.com/serfigas/brilla-gateway/graph/model"
)

// Updates merge. SERPI's PUT replaces the whole record, so an update input
// is laid over the record as SERPI holds it (read in the same turn of the
// token as the write): a field left out of the input keeps its current
// value, a field given is checked as on create and replaces it, and an
// explicit null clears it, except for the fields SERPI requires, where
// null is refused. Current values are sent back as they are, unchecked:
// the caller did not touch them.

// overlay applies one omittable input field to dst: left out, dst keeps
// its value; given, check validates it (as on create) and its result
// replaces dst; null on a required field is a problem.
func overlay[V, W any](c *checker, field string, o graphql.Omittable[*V], required bool, dst *W,
	check func(field string, v *V, required bool) W) {
	v, set := o.ValueOK()
	if !set {
		return
	}
	if v == nil && required {
		c.add(field, "%s cannot be cleared: it is required (leave it out to keep its current value)", field)
		return
	}
	*dst = check(field, v, required)
}

// shortRange checks SERPI's "short" day counts.
func (c *checker) shortRange(field string, v *int, required bool) wire.Int {
	return c.intRange(field, v, required, 0, maxShort)
}

// BranchForUpdate validates an updateBranch input and lays it over cur,
// the branch as SERPI holds it. The NIT and the DANE codes are not sent
// (the client sends the seed's PUT shape), but codes given are checked
// against the ids, as on create.
func BranchForUpdate(in model.UpdateBranchInput, cur serpi.Sucursal) (serpi.Sucursal, Problems) {
	c := &checker{prefix: "input"}
	id := c.recordID("id", in.ID, typeBranch)
	b := cur
	b.ID = id
	overlay(c, "thirdPartyId", in.ThirdPartyID, true, &b.IDTercero, c.id)
	overlay(c, "code", in.Code, true, &b.Codigo, c.text)
	overlay(c, "reference", in.Reference, false, &b.ReferenciaSucursal, c.text)
	overlay(c, "description", in.Description, true, &b.Descripcion, c.text)
	overlay(c, "address", in.Address, true, &b.Direccion, c.text)
	overlay(c, "address2", in.Address2, false, &b.Direccion2, c.text)
	overlay(c, "phone", in.Phone, false, &b.Telefono, c.digits)
	overlay(c, "phone2", in.Phone2, false, &b.Telefono2, c.digits)
	overlay(c, "extension", in.Extension, false, &b.Ext, c.digits)
	overlay(c, "extension2", in.Extension2, false, &b.Ext2, c.digits)
	overlay(c, "mobile", in.Mobile, false, &b.Movil, c.digits)
	overlay(c, "cityId", in.CityID, true, &b.IDCiudad, c.id)
	overlay(c, "departmentId", in.DepartmentID, true, &b.IDDepartamento, c.id)
	overlay(c, "countryId", in.CountryID, true, &b.IDPais, c.id)
	overlay(c, "sellerId", in.SellerID, true, &b.IDVendedor, c.id)
	overlay(c, "collectorId", in.CollectorID, false, &b.IDCobrador, c.id)
	overlay(c, "isBillingAddress", in.IsBillingAddress, true, &b.EsDireccionCobro, c.flag)
	overlay(c, "isShippingAddress", in.IsShippingAddress, true, &b.EsDireccionDespacho, c.flag)

	// Not sent; checked when given.
	c.digits("thirdPartyNit", in.ThirdPartyNit.Value(), false)
	c.digits("countryCode", in.CountryCode.Value(), false)
	cityCode := c.digits("cityCode", in.CityCode.Value(), false)
	deptCode := c.digits("departmentCode", in.DepartmentCode.Value(), false)
	cityID := b.IDCiudad
	if _, given := in.CityID.ValueOK(); !given && cityCode != "" {
		cityID = cur.IDCiudad
	}
	checkGeography(c, cityID, cityCode, deptCode)
	return b, c.problems
}

// TaxForUpdate validates an updateTax input and lays it over cur, the tax
// as SERPI holds it.
func TaxForUpdate(in model.UpdateTaxInput, cur serpi.Impuesto) (serpi.Impuesto, Problems) {
	c := &checker{prefix: "input"}
	id := c.recordID("id", in.ID, typeTax)
	t := cur
	t.ID = id
	overlay(c, "description", in.Description, true, &t.Descripcion, c.text)
	overlay(c, "rate", in.Rate, true, &t.Valor, c.decimal)
	overlay(c, "appliesTo", in.AppliesTo, true, &t.Aplica, c.count)
	overlay(c, "base", in.Base, true, &t.Base, c.decimal)
	overlay(c, "accountId", in.AccountID, true, &t.CuentaImpuesto, c.id)
	overlay(c, "refundAccountId", in.RefundAccountID, false, &t.CuentaImpuestoDevolucion, c.id)
	overlay(c, "bonusAccountId", in.BonusAccountID, false, &t.CuentaImpuestoBonificado, c.id)
	return t, c.problems
}

// articleForUpdate validates one updateArticles item under prefix and
// lays it over cur, the article as SERPI holds it.
func articleForUpdate(prefix string, in *model.UpdateArticleInput, cur serpi.Articulo) (serpi.Articulo, Problems) {
	c := &checker{prefix: prefix}
	id := c.recordID("id", in.ID, typeArticle)
	a := cur
	a.ID = id
	overlay(c, "code", in.Code, true, &a.Codigo, c.text)
	overlay(c, "reference", in.Reference, false, &a.Referencia, c.text)
	overlay(c, "barcode", in.Barcode, false, &a.Barras, c.text)
	overlay(c, "description", in.Description, true, &a.Descripcion, c.text)
	overlay(c, "alternateDescription", in.AlternateDescription, false, &a.DescripcionAlterna, c.text)
	overlay(c, "active", in.Active, true, &a.Activo, c.flag)
	overlay(c, "accountingGroupId", in.AccountingGroupID, true, &a.IDGrupoContable, c.id)
	overlay(c, "lineId", in.LineID, true, &a.IDLinea, c.id)
	overlay(c, "categoryId", in.CategoryID, true, &a.IDCategoria, c.id)
	overlay(c, "presentationId", in.PresentationID, true, &a.IDPresentacion, c.id)
	overlay(c, "brandId", in.BrandID, true, &a.IDMarca, c.id)
	overlay(c, "unitOfMeasureId", in.UnitOfMeasureID, true, &a.IDUnidadMedida, c.id)
	overlay(c, "weight", in.Weight, false, &a.Peso, c.decimal)
	overlay(c, "cost", in.Cost, false, &a.Costo, c.decimal)
	overlay(c, "lastCost", in.LastCost, false, &a.CostoU, c.decimal)
	overlay(c, "tariffPosition", in.TariffPosition, false, &a.PosicionArancel, c.text)
	overlay(c, "tariffPercent", in.TariffPercent, false, &a.PorcentajeArancel, c.decimal)
	overlay(c, "maxDays", in.MaxDays, false, &a.DiasMaximo, c.shortRange)
	overlay(c, "minDays", in.MinDays, false, &a.DiasMinimo, c.shortRange)
	overlay(c, "optimalDays", in.OptimalDays, false, &a.DiasOptimo, c.shortRange)
	overlay(c, "replenishmentDays", in.ReplenishmentDays, false, &a.DiasReposicion, c.shortRange)
	overlay(c, "planningType", in.PlanningType, false, &a.TipoPlaneacion, c.planningType)
	overlay(c, "purchaseMultiple", in.PurchaseMultiple, false, &a.MultiploCompra, c.decimal)
	overlay(c, "minimumOrder", in.MinimumOrder, false, &a.PedidoMinimo, c.decimal)
	overlay(c, "minimumStockUnits", in.MinimumStockUnits, false, &a.StockMinimoUnidades, c.decimal)
	overlay(c, "optimalStockUnits", in.OptimalStockUnits, false, &a.StockOptimoUnidades, c.decimal)
	overlay(c, "promotionEnabled", in.PromotionEnabled, false, &a.AplicaPromocion, c.flag)
	overlay(c, "kitEnabled", in.KitEnabled, false, &a.AplicaKit, c.flag)
	overlay(c, "exportable", in.Exportable, false, &a.Exportable, c.flag)
	overlay(c, "volume", in.Volume, false, &a.Volumen, c.decimal)
	overlay(c, "location", in.Location, false, &a.Ubicacion, c.decimal)
	overlay(c, "locationCode", in.LocationCode, false, &a.UbicacionAlfanumerica, c.text)
	overlay(c, "aiuEnabled", in.AiuEnabled, false, &a.AplicaAiu, c.flag)
	overlay(c, "aiuPercent", in.AiuPercent, false, &a.PorcentajeAiu, c.decimal)
	overlay(c, "aiuAccountingGroupId", in.AiuAccountingGroupID, false, &a.IDGrupoContableAiu, c.id)
	if words, set := in.Keywords.ValueOK(); set {
		a.PalabrasClave = keywords(c, words)
	}
	if raw, set := in.CustomFields.ValueOK(); set {
		a.CamposPersonalizados = customFields(c, raw)
		if a.CamposPersonalizados == nil {
			// Cleared: say so, rather than leave the member out.
			a.CamposPersonalizados = json.RawMessage("null")
		}
	}
	return a, c.problems
}

// planningType maps the PlanningType enum to SERPI's tipoPlaneacion code;
// null is no planning type.
func (c *checker) planningType(field string, v *model.PlanningType, _ bool) wire.Int {
	if v == nil {
		return wire.Int{}
	}
	code, ok := planningTypes[*v]
	if !ok {
		c.add(field, "%s %q is not GENERAL or CUSTOM", field, *v)
		return wire.Int{}
	}
	return wire.NewInt(code)
}

// checkGeography checks a branch's DANE codes: cityCode is 5 digits whose
// first two are departmentCode (2 digits), and equals cityID written with 5
// digits (city id 5001 is "05001"). Codes not given ("") are not checked;
// an invalid id (already reported) is not compared.
func checkGeography(c *checker, cityID wire.Int, cityCode, deptCode wire.Text) {
	if deptCode != "" && len(deptCode) != 2 {
		c.add("departmentCode", "departmentCode must be a 2-digit DANE department code, such as \"05\"")
		deptCode = ""
	}
	if cityCode == "" {
		return
	}
	if len(cityCode) != 5 {
		c.add("cityCode", "cityCode must be a 5-digit DANE city code, such as \"05001\" (leading zero included)")
		return
	}
	if deptCode != "" && cityCode[:2] != deptCode {
		c.add("cityCode", "cityCode must start with departmentCode (%s): DANE city codes begin with their department's code", deptCode)
	}
	if cityID.Valid && cityID.Value > 0 {
		if want := fmt.Sprintf("%05d", cityID.Value); want != string(cityCode) {
			c.add("cityCode", "cityCode does not match cityId %d, whose DANE code is %s", cityID.Value, want)
		}
	}
}
