package catalog

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/serfigas/brilla-gateway/backends/serpi"
	"github.com/serfigas/brilla-gateway/backends/wire"
	"github.com/serfigas/brilla-gateway/internal/registration"
)

// Key names of the indexes, used in Query.Equal.
const (
	KeyNIT      = "nit"
	KeyCityCode = "cityCode"
	KeyCode     = "code"

	KeyThirdPartyID      = "thirdPartyId"
	KeySellerID          = "sellerId"
	KeyIsBillingAddress  = "isBillingAddress"
	KeyIsShippingAddress = "isShippingAddress"

	KeyAppliesTo = "appliesTo"

	KeyBarcode    = "barcode"
	KeyReference  = "reference"
	KeyLineID     = "lineId"
	KeyCategoryID = "categoryId"
	KeyBrandID    = "brandId"
	// KeyKeyword holds each keyword normalized (see Normalize).
	KeyKeyword = "keyword"
	// KeyCustomField holds each scalar member of customFields as
	// CustomFieldKey(name, value).
	KeyCustomField = "customField"
)

// Sort field names, used in Order and KeyRange.
const (
	SortCode        = "code"
	SortDescription = "description"
	SortReference   = "reference"
	SortCost        = "cost"
	SortRate        = "rate"
)

// SerpiReader is the part of the SERPI client the catalog reads with:
// pages with the counts SERPI reported, so that a walk can tell a
// complete collection from a truncated or shifting one.
type SerpiReader interface {
	SucursalesPage(ctx context.Context, cred serpi.Credential, q serpi.PageQuery) (serpi.Page[serpi.Sucursal], error)
	ImpuestosPage(ctx context.Context, cred serpi.Credential, q serpi.PageQuery) (serpi.Page[serpi.Impuesto], error)
	ArticulosPage(ctx context.Context, cred serpi.Credential, q serpi.ArticuloQuery) (serpi.Page[serpi.Articulo], error)
}

// Loader fetches whole SERPI collections by walking their pages and indexes
// them.
type Loader struct {
	api      SerpiReader
	pageSize int
}

// DefaultPageSize is the "limite" asked for when walking collections: the
// seeds' own example (?limite=50&pagina=1). Walks end on SERPI's empty
// page, not a short one, so a SERPI honouring less loses nothing; a larger
// size (SERPI_PAGE_SIZE) only saves calls where SERPI accepts it.
const DefaultPageSize = serpi.DefaultPageSize

// NewLoader returns a Loader walking pages of pageSize (DefaultPageSize
// when <= 0).
func NewLoader(api SerpiReader, pageSize int) *Loader {
	if pageSize <= 0 {
		pageSize = DefaultPageSize
	}
	return &Loader{api: api, pageSize: pageSize}
}

// Branches fetches and indexes every branch.
func (l *Loader) Branches(ctx context.Context, cred serpi.Credential) (*Index[serpi.Sucursal], error) {
	items, err := l.fetchBranches(ctx, cred)
	if err != nil {
		return nil, err
	}
	return NewIndex(items, BranchSpec), nil
}

// Taxes fetches and indexes every tax.
func (l *Loader) Taxes(ctx context.Context, cred serpi.Credential) (*Index[serpi.Impuesto], error) {
	items, err := l.fetchTaxes(ctx, cred)
	if err != nil {
		return nil, err
	}
	return NewIndex(items, TaxSpec), nil
}

// Articles fetches and indexes every article.
func (l *Loader) Articles(ctx context.Context, cred serpi.Credential) (*Index[serpi.Articulo], error) {
	items, err := l.fetchArticles(ctx, cred)
	if err != nil {
		return nil, err
	}
	return NewIndex(items, ArticleSpec), nil
}

func (l *Loader) fetchBranches(ctx context.Context, cred serpi.Credential) ([]serpi.Sucursal, error) {
	items, err := serpi.WalkAll(ctx, l.pageSize, BranchSpec.ID, func(ctx context.Context, q serpi.PageQuery) (serpi.Page[serpi.Sucursal], error) {
		return l.api.SucursalesPage(ctx, cred, q)
	})
	if err != nil {
		return nil, fmt.Errorf("load branches: %w", err)
	}
	return items, nil
}

func (l *Loader) fetchTaxes(ctx context.Context, cred serpi.Credential) ([]serpi.Impuesto, error) {
	items, err := serpi.WalkAll(ctx, l.pageSize, TaxSpec.ID, func(ctx context.Context, q serpi.PageQuery) (serpi.Page[serpi.Impuesto], error) {
		return l.api.ImpuestosPage(ctx, cred, q)
	})
	if err != nil {
		return nil, fmt.Errorf("load taxes: %w", err)
	}
	return items, nil
}

func (l *Loader) fetchArticles(ctx context.Context, cred serpi.Credential) ([]serpi.Articulo, error) {
	items, err := serpi.WalkAll(ctx, l.pageSize, ArticleSpec.ID, func(ctx context.Context, q serpi.PageQuery) (serpi.Page[serpi.Articulo], error) {
		return l.api.ArticulosPage(ctx, cred, serpi.ArticuloQuery{PageQuery: q})
	})
	if err != nil {
		return nil, fmt.Errorf("load articles: %w", err)
	}
	return items, nil
}

// BranchSpec indexes branches by NIT and city code.
var BranchSpec = Spec[serpi.Sucursal]{
	ID: func(s serpi.Sucursal) int64 { return s.ID.Value },
	Text: func(s serpi.Sucursal) []string {
		return []string{string(s.Descripcion), string(s.Direccion), string(s.Direccion2), string(s.Codigo), string(s.ReferenciaSucursal), string(s.NitTercero)}
	},
	Keys: map[string]func(serpi.Sucursal) []string{
		KeyNIT:               func(s serpi.Sucursal) []string { return []string{string(s.NitTercero)} },
		KeyCityCode:          func(s serpi.Sucursal) []string { return []string{string(s.CodigoCiudad)} },
		KeyThirdPartyID:      func(s serpi.Sucursal) []string { return intKey(s.IDTercero) },
		KeySellerID:          func(s serpi.Sucursal) []string { return intKey(s.IDVendedor) },
		KeyIsBillingAddress:  func(s serpi.Sucursal) []string { return []string{BoolKey(bool(s.EsDireccionCobro))} },
		KeyIsShippingAddress: func(s serpi.Sucursal) []string { return []string{BoolKey(bool(s.EsDireccionDespacho))} },
	},
	Sort: map[string]func(serpi.Sucursal) string{
		SortCode:        func(s serpi.Sucursal) string { return SortText(string(s.Codigo)) },
		SortDescription: func(s serpi.Sucursal) string { return SortText(string(s.Descripcion)) },
	},
	Canonical: map[string]func(string) string{KeyNIT: CanonicalNIT},
}

// nitSeparators are what people write inside a NIT: 900.985.549, 900 985 549.
var nitSeparators = strings.NewReplacer(".", "", " ", "", "\u00a0", "")

// CanonicalNIT is the form NITs are matched by: without dots and spaces,
// and without a DIAN check digit written after a hyphen when it is the
// number's own ("900.985.549-2" is "900985549"). A hyphenated digit that
// is not the check digit stays ("900985549-3"), so it matches only the
// same text and two different numbers are never taken for one.
func CanonicalNIT(nit string) string {
	v := nitSeparators.Replace(strings.TrimSpace(nit))
	number, dv, hyphenated := strings.Cut(v, "-")
	if hyphenated && len(dv) == 1 && dv[0] >= '0' && dv[0] <= '9' &&
		registration.NITCheckDigit(number) == int(dv[0]-'0') {
		return number
	}
	return v
}

// TaxSpec indexes taxes by description text and what they apply to, and
// sorts them by description and rate (a rate range compares rate keys).
var TaxSpec = Spec[serpi.Impuesto]{
	ID:   func(t serpi.Impuesto) int64 { return t.ID.Value },
	Text: func(t serpi.Impuesto) []string { return []string{string(t.Descripcion)} },
	Keys: map[string]func(serpi.Impuesto) []string{
		KeyAppliesTo: func(t serpi.Impuesto) []string { return intKey(t.Aplica) },
	},
	Sort: map[string]func(serpi.Impuesto) string{
		SortDescription: func(t serpi.Impuesto) string { return SortText(string(t.Descripcion)) },
		SortRate:        func(t serpi.Impuesto) string { k, _ := SortDecimal(string(t.Valor)); return k },
	},
}

// ArticleSpec indexes articles by code and the other exact criteria
// integrators look articles up by.
var ArticleSpec = Spec[serpi.Articulo]{
	ID: func(a serpi.Articulo) int64 { return a.ID.Value },
	Text: func(a serpi.Articulo) []string {
		return []string{string(a.Codigo), string(a.Referencia), string(a.Barras), string(a.Descripcion), string(a.DescripcionAlterna), string(a.PalabrasClave)}
	},
	Keys: map[string]func(serpi.Articulo) []string{
		KeyCode:       func(a serpi.Articulo) []string { return []string{string(a.Codigo)} },
		KeyBarcode:    func(a serpi.Articulo) []string { return []string{string(a.Barras)} },
		KeyReference:  func(a serpi.Articulo) []string { return []string{string(a.Referencia)} },
		KeyLineID:     func(a serpi.Articulo) []string { return intKey(a.IDLinea) },
		KeyCategoryID: func(a serpi.Articulo) []string { return intKey(a.IDCategoria) },
		KeyBrandID:    func(a serpi.Articulo) []string { return intKey(a.IDMarca) },
		KeyKeyword: func(a serpi.Articulo) []string {
			words := Keywords(string(a.PalabrasClave))
			for i, w := range words {
				words[i] = Normalize(w)
			}
			return words
		},
		KeyCustomField: func(a serpi.Articulo) []string { return customFieldKeys(a.CamposPersonalizados) },
	},
	Sort: map[string]func(serpi.Articulo) string{
		SortCode:        func(a serpi.Articulo) string { return SortText(string(a.Codigo)) },
		SortDescription: func(a serpi.Articulo) string { return SortText(string(a.Descripcion)) },
		SortReference:   func(a serpi.Articulo) string { return SortText(string(a.Referencia)) },
		SortCost:        func(a serpi.Articulo) string { k, _ := SortDecimal(string(a.Costo)); return k },
	},
}

// IntKey is the index value of an integer criterion.
func IntKey(n int64) string { return strconv.FormatInt(n, 10) }

// BoolKey is the index value of a boolean criterion.
func BoolKey(b bool) string { return strconv.FormatBool(b) }

// intKey indexes a SERPI id; null is not indexed.
func intKey(v wire.Int) []string {
	if !v.Valid {
		return nil
	}
	return []string{IntKey(v.Value)}
}

// CustomFieldKey is the index value of a customFields member: its name
// exactly, and its value trimmed (strings as they are, numbers as written,
// booleans as true/false).
func CustomFieldKey(name, value string) string {
	return name + "\x00" + strings.TrimSpace(value)
}

// customFieldKeys indexes the scalar members of a customFields object;
// nested objects, arrays and nulls are not indexed.
func customFieldKeys(raw json.RawMessage) []string {
	var members map[string]json.RawMessage
	if len(raw) == 0 || json.Unmarshal(raw, &members) != nil {
		return nil
	}
	keys := make([]string, 0, len(members))
	for name, v := range members {
		v = bytes.TrimSpace(v)
		if len(v) == 0 {
			continue
		}
		switch v[0] {
		case '"':
			var s string
			if json.Unmarshal(v, &s) == nil {
				keys = append(keys, CustomFieldKey(name, s))
			}
		case 't', 'f':
			keys = append(keys, CustomFieldKey(name, string(v)))
		case '{', '[', 'n':
		default: // a number, as written
			keys = append(keys, CustomFieldKey(name, string(v)))
		}
	}
	return keys
}

// Keywords splits SERPI's comma-separated palabrasClave.
func Keywords(s string) []string {
	out := []string{}
	for _, k := range strings.Split(s, ",") {
		if k = strings.TrimSpace(k); k != "" {
			out = append(out, k)
		}
	}
	return out
}
