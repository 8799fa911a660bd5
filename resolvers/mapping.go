package resolvers

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/serfigas/brilla-gateway/backends/brilla"
	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/backends/wire"
	"github.com/serfigas/brilla-gateway/graph/model"
	"github.com/serfigas/brilla-gateway/graph/relay"
	"github.com/serfigas/brilla-gateway/internal/catalog"
	"github.com/serfigas/brilla-gateway/internal/customer/dues"
)

// Type names used in global IDs and cursors.
const (
	typeCustomer = "Customer"
	typeCredit   = "Credit"
	typeBranch   = "Branch"
	typeTax      = "Tax"
	typeArticle  = "Article"
)

// bogota is Colombia's zone (UTC-5, no daylight saving), in which Brilla
// writes its zone-less timestamps. A fixed zone avoids depending on the
// host's tzdata.
var bogota = time.FixedZone("America/Bogota", -5*60*60)

func strPtr(t wire.Text) *string {
	s := strings.TrimSpace(string(t))
	if s == "" {
		return nil
	}
	return &s
}

func intPtr(i wire.Int) *int {
	if !i.Valid {
		return nil
	}
	v := int(i.Value)
	return &v
}

func toCustomer(claims brilla.Claims, s *brilla.Summary) *model.Customer {
	return &model.Customer{
		ID:  relay.GlobalID(typeCustomer, claims.Vat),
		Vat: claims.Vat,
		Contract: &model.Contract{
			Number: string(s.Contract.Number),
			Active: bool(s.Contract.Active),
		},
		CreditSummary: &model.CreditSummary{
			CreditLimit:   model.Money(s.CreditLimit.Value),
			Available:     model.Money(s.Available.Value),
			Used:          model.Money(s.Used.Value),
			ActiveCredits: int(s.ActiveCredits.Value),
			TotalPending:  model.Money(s.TotalPending.Value),
		},
	}
}

var creditStates = map[string]model.CreditState{
	"posted":    model.CreditStatePosted,
	"paid":      model.CreditStatePaid,
	"cancelled": model.CreditStateCancelled,
	"canceled":  model.CreditStateCancelled,
	"overdue":   model.CreditStateOverdue,
}

func toCredit(c brilla.Credit) *model.Credit {
	state, ok := creditStates[strings.ToLower(c.State)]
	if !ok {
		state = model.CreditStateUnknown
	}
	return &model.Credit{
		ID:            relay.GlobalIntID(typeCredit, c.ID.Value),
		LoanID:        int(c.ID.Value),
		Name:          c.Name,
		Amount:        model.Money(c.Amount.Value),
		PendingAmount: model.Money(c.PendingAmount.Value),
		Periods:       int(c.Periods.Value),
		MonthlyRate:   model.Decimal(c.Rate),
		State:         state,
		StartDate:     model.DatePtr(c.StartDate),
		EndDate:       model.DatePtr(c.EndDate),
	}
}

// toInstallment maps a schedule row; its state and days past due are
// computed for today (see package dues). owing is false for a paid or
// cancelled credit and for a quote: their unpaid rows are never overdue.
func toInstallment(i brilla.Installment, owing bool, today dues.Day) *model.Installment {
	status := dues.Assess(i, owing, today)
	return &model.Installment{
		Sequence:         int(i.Sequence.Value),
		Date:             model.Date(i.Date),
		PaymentAmount:    model.Money(i.PaymentAmount.Value),
		PrincipalAmount:  model.Money(i.PrincipalAmount.Value),
		InterestAmount:   model.Money(i.InterestAmount.Value),
		PendingPrincipal: model.Money(i.PendingPrincipal.Value),
		State:            status.State,
		DaysPastDue:      status.DaysPastDue,
	}
}

// toPayment maps a payment received on credit loanID.
func toPayment(p brilla.Payment, loanID int64) *model.Payment {
	var method *string
	if p.Method != "" {
		method = &p.Method
	}
	return &model.Payment{
		PaymentID:           intPtr(p.ID),
		Date:                model.Date(p.Date),
		Amount:              model.Money(p.Amount.Value),
		InstallmentSequence: intPtr(p.Sequence),
		Reference:           strPtr(p.Reference),
		Method:              method,
		LoanID:              loanID,
	}
}

var registrationStates = map[string]model.RegistrationState{
	"pending":  model.RegistrationStatePending,
	"approved": model.RegistrationStateApproved,
	"rejected": model.RegistrationStateRejected,
}

func toRegistration(s *brilla.RegistrationStatus, trackingCode string) *model.Registration {
	state, ok := registrationStates[strings.ToLower(s.State)]
	if !ok {
		// An unknown state is not final: report it as still under review
		// rather than inventing an outcome.
		state = model.RegistrationStatePending
	}
	r := &model.Registration{
		TrackingCode: trackingCode,
		RequestID:    intPtr(s.RequestID),
		State:        state,
		Message:      optional(s.Message),
	}
	if s.TrackingCode != "" {
		r.TrackingCode = s.TrackingCode
	}
	if t, err := parseBrillaTime(s.UpdatedAt); err == nil {
		r.UpdatedAt = &t
	}
	return r
}

// parseBrillaTime accepts RFC 3339 and Brilla's zone-less
// "2006-01-02T15:04:05", which is Colombian time.
func parseBrillaTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.ParseInLocation("2006-01-02T15:04:05", s, bogota)
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func toBranch(s serpi.Sucursal) *model.Branch {
	b := &model.Branch{
		ID:                relay.GlobalIntID(typeBranch, s.ID.Value),
		SerpiID:           int(s.ID.Value),
		Code:              strPtr(s.Codigo),
		Reference:         strPtr(s.ReferenciaSucursal),
		Description:       strPtr(s.Descripcion),
		Address:           strPtr(s.Direccion),
		Address2:          strPtr(s.Direccion2),
		Phone:             strPtr(s.Telefono),
		Phone2:            strPtr(s.Telefono2),
		Extension:         strPtr(s.Ext),
		Extension2:        strPtr(s.Ext2),
		Mobile:            strPtr(s.Movil),
		ThirdParty:        &model.ThirdParty{ID: int(s.IDTercero.Value), Nit: string(s.NitTercero)},
		SellerID:          intPtr(s.IDVendedor),
		CollectorID:       intPtr(s.IDCobrador),
		IsBillingAddress:  bool(s.EsDireccionCobro),
		IsShippingAddress: bool(s.EsDireccionDespacho),
	}
	if s.IDCiudad.Valid {
		b.City = &model.City{ID: int(s.IDCiudad.Value), Code: strPtr(s.CodigoCiudad)}
	}
	if s.IDDepartamento.Valid {
		b.Department = &model.Department{ID: int(s.IDDepartamento.Value), Code: strPtr(s.CodigoDepartamento)}
	}
	if s.IDPais.Valid {
		b.Country = &model.Country{ID: int(s.IDPais.Value), Code: strPtr(s.CodigoPais)}
	}
	return b
}

func toTax(t serpi.Impuesto) *model.Tax {
	return &model.Tax{
		ID:              relay.GlobalIntID(typeTax, t.ID.Value),
		SerpiID:         int(t.ID.Value),
		Description:     string(t.Descripcion),
		Rate:            decimalOrZero(t.Valor),
		AppliesTo:       int(t.Aplica.Value),
		Base:            decimalOrZero(t.Base),
		AccountID:       intPtr(t.CuentaImpuesto),
		RefundAccountID: intPtr(t.CuentaImpuestoDevolucion),
		BonusAccountID:  intPtr(t.CuentaImpuestoBonificado),
	}
}

// decimalOrZero maps an absent decimal to 0: SERPI's own guidance is to
// send 0 or null for values not assigned.
func decimalOrZero(d wire.Decimal) model.Decimal {
	if d == "" {
		return "0"
	}
	return model.Decimal(d)
}

var planningTypes = map[int64]model.PlanningType{0: model.PlanningTypeGeneral, 1: model.PlanningTypeCustom}

func toArticle(a serpi.Articulo) *model.Article {
	out := &model.Article{
		ID:                   relay.GlobalIntID(typeArticle, a.ID.Value),
		SerpiID:              int(a.ID.Value),
		Code:                 string(a.Codigo),
		Reference:            strPtr(a.Referencia),
		Barcode:              strPtr(a.Barras),
		Description:          string(a.Descripcion),
		AlternateDescription: strPtr(a.DescripcionAlterna),
		Active:               bool(a.Activo),
		AccountingGroupID:    intPtr(a.IDGrupoContable),
		LineID:               intPtr(a.IDLinea),
		CategoryID:           intPtr(a.IDCategoria),
		PresentationID:       intPtr(a.IDPresentacion),
		BrandID:              intPtr(a.IDMarca),
		UnitOfMeasureID:      intPtr(a.IDUnidadMedida),
		Weight:               model.DecimalPtr(a.Peso),
		Cost:                 model.DecimalPtr(a.Costo),
		LastCost:             model.DecimalPtr(a.CostoU),
		TariffPosition:       strPtr(a.PosicionArancel),
		TariffPercent:        model.DecimalPtr(a.PorcentajeArancel),
		MaxDays:              intPtr(a.DiasMaximo),
		MinDays:              intPtr(a.DiasMinimo),
		OptimalDays:          intPtr(a.DiasOptimo),
		ReplenishmentDays:    intPtr(a.DiasReposicion),
		PurchaseMultiple:     model.DecimalPtr(a.MultiploCompra),
		MinimumOrder:         model.DecimalPtr(a.PedidoMinimo),
		MinimumStockUnits:    model.DecimalPtr(a.StockMinimoUnidades),
		OptimalStockUnits:    model.DecimalPtr(a.StockOptimoUnidades),
		PromotionEnabled:     bool(a.AplicaPromocion),
		KitEnabled:           bool(a.AplicaKit),
		Exportable:           bool(a.Exportable),
		Volume:               model.DecimalPtr(a.Volumen),
		Location:             model.DecimalPtr(a.Ubicacion),
		LocationCode:         strPtr(a.UbicacionAlfanumerica),
		Keywords:             catalog.Keywords(string(a.PalabrasClave)),
		AiuEnabled:           bool(a.AplicaAiu),
		AiuPercent:           model.DecimalPtr(a.PorcentajeAiu),
		AiuAccountingGroupID: intPtr(a.IDGrupoContableAiu),
	}
	if a.TipoPlaneacion.Valid {
		if pt, ok := planningTypes[a.TipoPlaneacion.Value]; ok {
			out.PlanningType = &pt
		}
	}
	if raw := json.RawMessage(a.CamposPersonalizados); len(raw) > 0 && string(raw) != "null" {
		out.CustomFields = model.JSON(raw)
	}
	return out
}
