package catalogwrite

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/backends/wire"
	"github.com/serfigas/brilla-gateway/graph/model"
)

// Type names of the global IDs an update accepts.
const (
	typeBranch  = "Branch"
	typeTax     = "Tax"
	typeArticle = "Article"
)

// BranchForCreate validates a createBranch input and maps it to SERPI's
// Sucursal, following the Sucursales POST table: every field marked SI is
// required except referencia_sucursal and telefono, which must be present
// but may be empty (the seed's own example sends them empty) and are sent
// as "" when not given.
func BranchForCreate(in model.CreateBranchInput) (serpi.Sucursal, Problems) {
	c := &checker{prefix: "input"}
	s := branchFields(c, in, true)
	checkGeography(c, s.IDCiudad, s.CodigoCiudad, s.CodigoDepartamento)
	return s, c.problems
}

// branchFields maps a createBranch input. create makes the codes
// required.
func branchFields(c *checker, in model.CreateBranchInput, create bool) serpi.Sucursal {
	return serpi.Sucursal{
		IDTercero:           c.id("thirdPartyId", in.ThirdPartyID, true),
		NitTercero:          c.digits("thirdPartyNit", in.ThirdPartyNit, create),
		Codigo:              c.text("code", in.Code, true),
		ReferenciaSucursal:  c.text("reference", in.Reference, false),
		Descripcion:         c.text("description", in.Description, true),
		Direccion:           c.text("address", in.Address, true),
		Direccion2:          c.text("address2", in.Address2, false),
		Telefono:            c.digits("phone", in.Phone, false),
		Telefono2:           c.digits("phone2", in.Phone2, false),
		Ext:                 c.digits("extension", in.Extension, false),
		Ext2:                c.digits("extension2", in.Extension2, false),
		Movil:               c.digits("mobile", in.Mobile, false),
		IDCiudad:            c.id("cityId", in.CityID, true),
		CodigoCiudad:        c.digits("cityCode", in.CityCode, create),
		IDDepartamento:      c.id("departmentId", in.DepartmentID, true),
		CodigoDepartamento:  c.digits("departmentCode", in.DepartmentCode, create),
		IDPais:              c.id("countryId", in.CountryID, true),
		CodigoPais:          c.digits("countryCode", in.CountryCode, create),
		IDVendedor:          c.id("sellerId", in.SellerID, true),
		IDCobrador:          c.id("collectorId", in.CollectorID, false),
		EsDireccionCobro:    c.flag("isBillingAddress", in.IsBillingAddress, true),
		EsDireccionDespacho: c.flag("isShippingAddress", in.IsShippingAddress, true),
	}
}

// TaxForCreate validates a createTax input and maps it to SERPI's
// Impuesto (Impuesto POST table: descripcion, valor, aplica, _base and
// cuenta_impuesto required; the other accounts optional, sent as null).
func TaxForCreate(in model.CreateTaxInput) (serpi.Impuesto, Problems) {
	c := &checker{prefix: "input"}
	t := taxFields(c, in)
	return t, c.problems
}

func taxFields(c *checker, in model.CreateTaxInput) serpi.Impuesto {
	return serpi.Impuesto{
		Descripcion:              c.text("description", in.Description, true),
		Valor:                    c.decimal("rate", in.Rate, true),
		Aplica:                   c.count("appliesTo", in.AppliesTo, true),
		Base:                     c.decimal("base", in.Base, true),
		CuentaImpuesto:           c.id("accountId", in.AccountID, true),
		CuentaImpuestoDevolucion: c.id("refundAccountId", in.RefundAccountID, false),
		CuentaImpuestoBonificado: c.id("bonusAccountId", in.BonusAccountID, false),
	}
}

// planningTypes are SERPI's tipoPlaneacion codes.
var planningTypes = map[model.PlanningType]int64{model.PlanningTypeGeneral: 0, model.PlanningTypeCustom: 1}

// articleForCreate validates one createArticles item under prefix
// ("input[3]") and maps it to SERPI's Articulo (Articulo POST table:
// codigo, descripcion, the six group/line/category/presentation/brand/unit
// ids and activo required).
func articleForCreate(prefix string, in *model.ArticleInput) (serpi.Articulo, Problems) {
	c := &checker{prefix: prefix}
	a := articleFields(c, in)
	return a, c.problems
}

func articleFields(c *checker, in *model.ArticleInput) serpi.Articulo {
	a := serpi.Articulo{
		Codigo:                c.text("code", in.Code, true),
		Referencia:            c.text("reference", in.Reference, false),
		Barras:                c.text("barcode", in.Barcode, false),
		Descripcion:           c.text("description", in.Description, true),
		IDGrupoContable:       c.id("accountingGroupId", in.AccountingGroupID, true),
		DescripcionAlterna:    c.text("alternateDescription", in.AlternateDescription, false),
		IDLinea:               c.id("lineId", in.LineID, true),
		IDCategoria:           c.id("categoryId", in.CategoryID, true),
		IDPresentacion:        c.id("presentationId", in.PresentationID, true),
		IDMarca:               c.id("brandId", in.BrandID, true),
		IDUnidadMedida:        c.id("unitOfMeasureId", in.UnitOfMeasureID, true),
		Peso:                  c.decimal("weight", in.Weight, false),
		Costo:                 c.decimal("cost", in.Cost, false),
		CostoU:                c.decimal("lastCost", in.LastCost, false),
		Activo:                c.flag("active", in.Active, true),
		PosicionArancel:       c.text("tariffPosition", in.TariffPosition, false),
		PorcentajeArancel:     c.decimal("tariffPercent", in.TariffPercent, false),
		DiasMaximo:            c.intRange("maxDays", in.MaxDays, false, 0, maxShort),
		DiasMinimo:            c.intRange("minDays", in.MinDays, false, 0, maxShort),
		DiasOptimo:            c.intRange("optimalDays", in.OptimalDays, false, 0, maxShort),
		DiasReposicion:        c.intRange("replenishmentDays", in.ReplenishmentDays, false, 0, maxShort),
		MultiploCompra:        c.decimal("purchaseMultiple", in.PurchaseMultiple, false),
		PedidoMinimo:          c.decimal("minimumOrder", in.MinimumOrder, false),
		StockMinimoUnidades:   c.decimal("minimumStockUnits", in.MinimumStockUnits, false),
		StockOptimoUnidades:   c.decimal("optimalStockUnits", in.OptimalStockUnits, false),
		AplicaPromocion:       c.flag("promotionEnabled", in.PromotionEnabled, false),
		AplicaKit:             c.flag("kitEnabled", in.KitEnabled, false),
		Exportable:            c.flag("exportable", in.Exportable, false),
		Volumen:               c.decimal("volume", in.Volume, false),
		Ubicacion:             c.decimal("location", in.Location, false),
		UbicacionAlfanumerica: c.text("locationCode", in.LocationCode, false),
		PalabrasClave:         keywords(c, in.Keywords),
		CamposPersonalizados:  customFields(c, in.CustomFields),
		AplicaAiu:             c.flag("aiuEnabled", in.AiuEnabled, false),
		PorcentajeAiu:         c.decimal("aiuPercent", in.AiuPercent, false),
		IDGrupoContableAiu:    c.id("aiuAccountingGroupId", in.AiuAccountingGroupID, false),
	}
	a.TipoPlaneacion = c.planningType("planningType", in.PlanningType, false)
	return a
}

// keywords joins the keywords with "," into SERPI's palabrasClave. A
// keyword holding a comma would come back split in two, so it is refused.
func keywords(c *checker, words []string) wire.Text {
	kept := make([]string, 0, len(words))
	for i, w := range words {
		field := "keywords[" + strconv.Itoa(i) + "]"
		w = strings.TrimSpace(w)
		switch {
		case w == "":
			c.add(field, "%s must not be empty", field)
		case strings.Contains(w, ","):
			c.add(field, "%s must not contain a comma (SERPI separates keywords with commas)", field)
		case utf8.RuneCountInString(w) > MaxTextLen:
			c.add(field, "%s must be at most %d characters", field, MaxTextLen)
		default:
			kept = append(kept, w)
		}
	}
	return wire.Text(strings.Join(kept, ","))
}

// customFields accepts a JSON object (sent as is) or nothing.
func customFields(c *checker, raw model.JSON) json.RawMessage {
	b := bytes.TrimSpace(raw)
	if len(b) == 0 || bytes.Equal(b, []byte("null")) {
		return nil
	}
	if b[0] != '{' || !json.Valid(b) {
		c.add("customFields", "customFields must be a JSON object")
		return nil
	}
	return json.RawMessage(b)
}
