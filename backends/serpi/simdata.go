package serpi

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/serfigas/brilla-gateway/backends/wire"
)

// city is a Colombian municipality with its DANE codes. SERPI's numeric
// ids are the codes read as numbers (id_ciudad 5001 for "05001").
type city struct {
	name     string
	code     string // DANE municipality code, 5 digits
	deptCode string // DANE department code, 2 digits
	phone    string // landline prefix since 2021 (60 + region digit)
}

var cities = []city{
	{"CARTAGENA", "13001", "13", "605"},
	{"BARRANQUILLA", "08001", "08", "605"},
	{"BOGOTÁ", "11001", "11", "601"},
	{"MEDELLÍN", "05001", "05", "604"},
	{"CALI", "76001", "76", "602"},
	{"SANTA MARTA", "47001", "47", "605"},
	{"SOLEDAD", "08758", "08", "605"},
	{"BUCARAMANGA", "68001", "68", "607"},
	{"CÚCUTA", "54001", "54", "607"},
	{"PEREIRA", "66001", "66", "606"},
	{"MANIZALES", "17001", "17", "606"},
	{"MONTERÍA", "23001", "23", "604"},
	{"SINCELEJO", "70001", "70", "605"},
	{"VALLEDUPAR", "20001", "20", "605"},
	{"IBAGUÉ", "73001", "73", "608"},
	{"VILLAVICENCIO", "50001", "50", "608"},
}

// Identity of the record the Sucursales seed shows; the simulator serves
// it as is so the seed's examples work against it.
const (
	seedBranchID   = 2317
	seedTerceroID  = 1804
	seedTerceroNIT = "900985549"
	firstBranchID  = 2301
	numTerceros    = 15 // NITs owning branches, customers included
)

var sellerIDs = []int64{3418, 3419, 3425, 3431, 3440, 3452}

var branchKinds = []string{"SEDE NORTE", "SEDE SUR", "SEDE CENTRO", "BODEGA", "PUNTO DE VENTA", "OFICINA", "ALMACÉN", "PLANTA"}

var streetKinds = []string{"CRA", "CL", "AV", "TV", "DG", "KR"}

// tercero is a third party owning branches.
type tercero struct {
	id  int64
	nit string
}

// genTerceros returns the NITs owning branches: the customers first, then
// the seed's NIT, then random company NITs (8xx/9xx million, as Colombian
// companies' are), numTerceros in all unless there are more customers.
func genTerceros(r *rand.Rand, customers []string) []tercero {
	usedNIT := map[string]bool{}
	usedID := map[int64]bool{seedTerceroID: true}
	newID := func() int64 {
		for {
			id := int64(1000 + r.IntN(9000))
			if !usedID[id] {
				usedID[id] = true
				return id
			}
		}
	}
	var out []tercero
	add := func(nit string, id int64) {
		if nit == "" || usedNIT[nit] {
			return
		}
		usedNIT[nit] = true
		out = append(out, tercero{id: id, nit: nit})
	}
	for _, nit := range customers {
		add(strings.TrimSpace(nit), newID())
	}
	add(seedTerceroNIT, seedTerceroID)
	for len(out) < numTerceros {
		prefix := []int{800, 830, 860, 890, 900, 901}[r.IntN(6)]
		add(fmt.Sprintf("%d%06d", prefix, r.IntN(1_000_000)), newID())
	}
	return out
}

// genSucursales builds n branches spread over terceros; every customer
// NIT (the first len(customers) terceros) owns at least 3 when n allows.
func genSucursales(r *rand.Rand, n int, terceros []tercero, customers int) []Sucursal {
	owner := make([]int, n)
	for i := range owner {
		owner[i] = r.IntN(len(terceros))
	}
	seedIdx := seedBranchID - firstBranchID
	if seedIdx < n {
		for t, tc := range terceros {
			if tc.id == seedTerceroID {
				owner[seedIdx] = t
			}
		}
	}
	// Pin 3 branches per customer on distinct random slots.
	pinned := map[int]bool{}
	if seedIdx < n {
		pinned[seedIdx] = true
	}
	for c := range customers {
		for range 3 {
			if len(pinned) >= n {
				break
			}
			for {
				i := r.IntN(n)
				if !pinned[i] {
					pinned[i] = true
					owner[i] = c
					break
				}
			}
		}
	}

	perTercero := map[int]int{}
	out := make([]Sucursal, n)
	for i := range n {
		id := int64(firstBranchID + i)
		t := terceros[owner[i]]
		seq := perTercero[owner[i]]
		perTercero[owner[i]]++
		ct := cities[r.IntN(len(cities))]
		if i == seedIdx {
			out[i] = seedSucursal()
			continue
		}
		desc := "PRINCIPAL " + ct.name
		if seq > 0 {
			desc = branchKinds[r.IntN(len(branchKinds))] + " " + ct.name
		}
		s := Sucursal{
			ID:                  wire.NewInt(id),
			IDTercero:           wire.NewInt(t.id),
			NitTercero:          wire.Text(t.nit),
			Codigo:              wire.Text(strconv.Itoa(seq)),
			Descripcion:         wire.Text(desc),
			Direccion:           wire.Text(fmt.Sprintf("%s %d # %d-%d", streetKinds[r.IntN(len(streetKinds))], 1+r.IntN(120), 1+r.IntN(99), 1+r.IntN(99))),
			Telefono:            wire.Text(ct.phone + strconv.Itoa(2_000_000+r.IntN(7_999_999))),
			Movil:               wire.Text("3" + strconv.Itoa(100_000_000+r.IntN(250_000_000))),
			IDCiudad:            wire.NewInt(mustAtoi(ct.code)),
			CodigoCiudad:        wire.Text(ct.code),
			IDDepartamento:      wire.NewInt(mustAtoi(ct.deptCode)),
			CodigoDepartamento:  wire.Text(ct.deptCode),
			IDPais:              wire.NewInt(1),
			CodigoPais:          "57",
			IDVendedor:          wire.NewInt(sellerIDs[r.IntN(len(sellerIDs))]),
			EsDireccionCobro:    wire.Bool(r.IntN(3) == 0),
			EsDireccionDespacho: wire.Bool(r.IntN(2) == 0),
		}
		if r.IntN(3) == 0 {
			s.ReferenciaSucursal = wire.Text(fmt.Sprintf("SUC-%03d", seq+1))
		}
		switch r.IntN(4) {
		case 0:
			s.Direccion2 = wire.Text(fmt.Sprintf("LOCAL %d", 1+r.IntN(200)))
		case 1:
			s.Direccion2 = wire.Text(fmt.Sprintf("PISO %d", 1+r.IntN(20)))
		}
		if r.IntN(5) == 0 {
			s.Telefono2 = wire.Text(ct.phone + strconv.Itoa(2_000_000+r.IntN(7_999_999)))
		}
		if r.IntN(4) == 0 {
			s.Ext = wire.Text(strconv.Itoa(100 + r.IntN(900)))
		}
		if r.IntN(2) == 0 {
			s.IDCobrador = wire.NewInt(sellerIDs[r.IntN(len(sellerIDs))])
		}
		out[i] = s
	}
	return out
}

// seedSucursal is the record of the Sucursales seed.
func seedSucursal() Sucursal {
	return Sucursal{
		ID: wire.NewInt(seedBranchID), IDTercero: wire.NewInt(seedTerceroID), NitTercero: seedTerceroNIT,
		Codigo: "0", Descripcion: "PRUEBA", Direccion: "cra 22 # 4-44",
		IDCiudad: wire.NewInt(5001), CodigoCiudad: "05001", IDDepartamento: wire.NewInt(5), CodigoDepartamento: "05",
		IDPais: wire.NewInt(1), CodigoPais: "57", IDVendedor: wire.NewInt(3418),
	}
}

// sucursalJSON is how the simulator writes a branch: the seed's field
// order, with the phone-like fields typed loosely as the seed shows them
// ("" where the table says int, null for a missing extension).
type sucursalJSON struct {
	ID                  wire.Int `json:"id"`
	IDTercero           wire.Int `json:"id_tercero"`
	NitTercero          string   `json:"nit_tercero"`
	Codigo              any      `json:"codigo"`
	ReferenciaSucursal  string   `json:"referencia_sucursal"`
	Descripcion         string   `json:"descripcion"`
	Direccion           string   `json:"direccion"`
	Direccion2          string   `json:"direccion2"`
	Telefono            any      `json:"telefono"`
	Telefono2           any      `json:"telefono2"`
	Ext                 any      `json:"ext"`
	Ext2                any      `json:"ext2"`
	Movil               any      `json:"movil"`
	IDCiudad            wire.Int `json:"id_ciudad"`
	CodigoCiudad        string   `json:"codigo_ciudad"`
	IDDepartamento      wire.Int `json:"id_departamento"`
	CodigoDepartamento  string   `json:"codigo_departamento"`
	IDPais              wire.Int `json:"id_pais"`
	CodigoPais          string   `json:"codigo_pais"`
	IDVendedor          wire.Int `json:"id_vendedor"`
	IDCobrador          wire.Int `json:"id_cobrador"`
	EsDireccionCobro    bool     `json:"es_direccionCobro"`
	EsDireccionDespacho bool     `json:"es_direccionDespacho"`
}

// renderSucursal writes s. Which loose spelling a field gets depends on
// the id only, so output is deterministic.
func renderSucursal(s Sucursal) json.RawMessage {
	id := s.ID.Value
	// Every fourth record, and the seed's, sends numeric text as numbers.
	loose := id%4 == 0 || id == seedBranchID
	num := func(t wire.Text, emptyAsNull bool) any {
		v := strings.TrimSpace(string(t))
		if v == "" {
			if emptyAsNull {
				return nil
			}
			return ""
		}
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && loose {
			return n
		}
		return v
	}
	out := sucursalJSON{
		ID: s.ID, IDTercero: s.IDTercero, NitTercero: string(s.NitTercero),
		Codigo:             num(s.Codigo, false),
		ReferenciaSucursal: string(s.ReferenciaSucursal), Descripcion: string(s.Descripcion),
		Direccion: string(s.Direccion), Direccion2: string(s.Direccion2),
		Telefono: num(s.Telefono, false), Telefono2: num(s.Telefono2, false),
		Ext: num(s.Ext, true), Ext2: num(s.Ext2, true), Movil: num(s.Movil, false),
		IDCiudad: s.IDCiudad, CodigoCiudad: string(s.CodigoCiudad),
		IDDepartamento: s.IDDepartamento, CodigoDepartamento: string(s.CodigoDepartamento),
		IDPais: s.IDPais, CodigoPais: string(s.CodigoPais),
		IDVendedor: s.IDVendedor, IDCobrador: s.IDCobrador,
		EsDireccionCobro: bool(s.EsDireccionCobro), EsDireccionDespacho: bool(s.EsDireccionDespacho),
	}
	return mustJSON(out)
}

// taxKind is a family of taxes and its usual rates (percent, as text).
type taxKind struct {
	name   string
	aplica int64 // 1: purchases, 2: sales
	base   string
	rates  []string
}

var taxKinds = []taxKind{
	{"IVA COMPRA", 1, "0", []string{"5", "19", "0"}},
	{"IVA VENTA", 2, "0", []string{"19", "5", "0"}},
	{"RETEFUENTE", 1, "1271000", []string{"2.5", "3.5", "1", "0.1", "4", "6", "10", "11", "20"}},
	{"RETEIVA", 1, "0", []string{"15"}},
	{"AUTORRETENCION", 2, "0", []string{"0.4", "0.8", "1.6"}},
	{"IMPOCONSUMO", 2, "0", []string{"8", "4", "16"}},
}

// reteICARates are per-mil rates of the municipal tax, written as percent.
var reteICARates = []string{"0.414", "0.69", "0.966", "1.104", "0.7", "0.5", "1.38"}

var taxAccounts = []int64{2659, 2365, 2367, 2368, 2408, 1355}

// genImpuestos builds n taxes; id 1 is the seed's "IVA COMPRA 5%".
func genImpuestos(r *rand.Rand, n int) []Impuesto {
	type def struct {
		desc, rate, base string
		aplica           int64
	}
	var defs []def
	for _, k := range taxKinds {
		for _, rate := range k.rates {
			defs = append(defs, def{fmt.Sprintf("%s %s%%", k.name, rate), rate, k.base, k.aplica})
		}
	}
	for _, c := range cities {
		for _, rate := range reteICARates {
			defs = append(defs, def{fmt.Sprintf("RETEICA %s %s%%", c.name, rate), rate, "0", 1})
		}
	}
	out := make([]Impuesto, n)
	for i := range n {
		d := defs[i%len(defs)]
		desc := d.desc
		if round := i / len(defs); round > 0 {
			desc = fmt.Sprintf("%s (%d)", desc, round+1)
		}
		acct := taxAccounts[r.IntN(len(taxAccounts))]
		t := Impuesto{
			ID:                       wire.NewInt(int64(i + 1)),
			Descripcion:              wire.Text(desc),
			Valor:                    decimalText(d.rate, 5),
			Aplica:                   wire.NewInt(d.aplica),
			Base:                     decimalText(d.base, 5),
			CuentaImpuesto:           wire.NewInt(acct),
			CuentaImpuestoDevolucion: wire.NewInt(acct),
		}
		if i > 0 && r.IntN(3) == 0 {
			t.CuentaImpuestoBonificado = wire.NewInt(taxAccounts[r.IntN(len(taxAccounts))])
		}
		out[i] = t
	}
	if n > 0 {
		out[0].CuentaImpuesto, out[0].CuentaImpuestoDevolucion = wire.NewInt(2659), wire.NewInt(2659)
	}
	return out
}

// product is a family of articles a Brilla ally sells on credit.
type product struct {
	noun     string
	prefix   string
	linea    int64
	category int64
	variants []string
	brands   []int64
	minCost  int64 // whole pesos
	maxCost  int64
	arancel  string
	keywords string
}

var brands = map[int64]string{
	1: "HACEB", 2: "MABE", 3: "SAMSUNG", 4: "LG", 5: "WHIRLPOOL", 6: "CHALLENGER",
	7: "KALLEY", 8: "LENOVO", 9: "XIAOMI", 10: "SPRING", 11: "ELECTROLUX", 12: "BOSCH",
}

var products = []product{
	{"ESTUFA", "EST", 1, 1, []string{"4 PUESTOS GAS", "6 PUESTOS GAS", "EMPOTRABLE 4P", "MIXTA 4P"}, []int64{1, 2, 6, 11}, 450_000, 2_400_000, "7321.11.10.00", "estufa,cocina,gas"},
	{"NEVERA", "NEV", 1, 1, []string{"NO FROST 250L", "NO FROST 320L", "FROST 199L", "SIDE BY SIDE 500L"}, []int64{1, 2, 3, 4, 11}, 1_100_000, 6_500_000, "8418.10.00.00", "nevera,refrigerador,cocina"},
	{"LAVADORA", "LAV", 1, 1, []string{"CARGA SUPERIOR 18KG", "CARGA FRONTAL 12KG", "SEMIAUTOMATICA 10KG"}, []int64{1, 3, 4, 5, 11}, 900_000, 3_800_000, "8450.11.00.00", "lavadora,ropa,hogar"},
	{"CALENTADOR", "CAL", 4, 2, []string{"DE PASO 10L GAS NATURAL", "DE PASO 12L GAS NATURAL", "ACUMULACION 50L"}, []int64{1, 6, 12}, 550_000, 1_900_000, "8419.11.00.00", "calentador,gas,agua caliente"},
	{"HORNO", "HOR", 1, 1, []string{"MICROONDAS 0.7 PIES", "MICROONDAS 1.1 PIES", "EMPOTRABLE GAS"}, []int64{2, 3, 4, 6}, 280_000, 1_700_000, "8516.50.00.00", "horno,microondas,cocina"},
	{"TELEVISOR", "TEL", 2, 3, []string{"LED 32 HD", "LED 43 FHD SMART", "LED 55 4K SMART", "LED 65 4K SMART"}, []int64{3, 4, 7, 6}, 700_000, 4_900_000, "8528.72.00.00", "televisor,tv,smart"},
	{"CELULAR", "CEL", 2, 3, []string{"128GB", "256GB", "64GB"}, []int64{3, 9}, 500_000, 3_900_000, "8517.13.00.00", "celular,telefono,movil"},
	{"PORTATIL", "POR", 2, 3, []string{"14 CORE I5 8GB", "15.6 RYZEN 5 16GB", "14 CELERON 4GB"}, []int64{8, 3}, 1_300_000, 4_200_000, "8471.30.00.00", "portatil,computador,laptop"},
	{"COLCHON", "COL", 3, 4, []string{"SENCILLO 100X190", "DOBLE 140X190", "QUEEN 160X190"}, []int64{10}, 450_000, 2_100_000, "9404.21.00.00", "colchon,descanso,hogar"},
	{"VENTILADOR", "VEN", 3, 4, []string{"DE PIE 18", "DE MESA 12", "DE TECHO 52"}, []int64{7, 6}, 90_000, 420_000, "8414.51.00.00", "ventilador,clima,hogar"},
}

// genArticulos builds n articles with unique codigo; id 1 is the seed's
// article "123" and id 2 has the codigo "12345" of the seed's GET example.
func genArticulos(r *rand.Rand, n int) []Articulo {
	out := make([]Articulo, n)
	for i := range n {
		id := int64(i + 1)
		if id == 1 {
			out[i] = seedArticulo()
			continue
		}
		p := products[r.IntN(len(products))]
		brand := p.brands[r.IntN(len(p.brands))]
		cost := (p.minCost + r.Int64N(p.maxCost-p.minCost)) / 100 * 100
		a := Articulo{
			ID:                    wire.NewInt(id),
			Codigo:                wire.Text(fmt.Sprintf("%s%05d", p.prefix, id)),
			Referencia:            wire.Text(fmt.Sprintf("REF-%s-%04d", brands[brand][:min(3, len(brands[brand]))], r.IntN(10000))),
			Barras:                wire.Text(fmt.Sprintf("770%010d", r.Int64N(10_000_000_000))),
			Descripcion:           wire.Text(fmt.Sprintf("%s %s %s", p.noun, p.variants[r.IntN(len(p.variants))], brands[brand])),
			IDGrupoContable:       wire.NewInt(1 + int64(r.IntN(5))),
			IDLinea:               wire.NewInt(p.linea),
			IDCategoria:           wire.NewInt(p.category),
			IDPresentacion:        wire.NewInt(1 + int64(r.IntN(6))),
			IDMarca:               wire.NewInt(brand),
			IDUnidadMedida:        wire.NewInt(3),
			Peso:                  decimalText(strconv.FormatInt(1+r.Int64N(90), 10)+"."+strconv.Itoa(r.IntN(10)), 5),
			Costo:                 decimalText(strconv.FormatInt(cost, 10), 2),
			Activo:                wire.Bool(r.IntN(8) != 0),
			PosicionArancel:       wire.Text(p.arancel),
			PorcentajeArancel:     "0.00000",
			DiasMaximo:            wire.NewInt(0),
			DiasMinimo:            wire.NewInt(0),
			DiasOptimo:            wire.NewInt(0),
			DiasReposicion:        wire.NewInt(int64(r.IntN(4) * 15)),
			TipoPlaneacion:        wire.NewInt(int64(r.IntN(2))),
			MultiploCompra:        "1.00",
			PedidoMinimo:          "1.00000",
			AplicaPromocion:       wire.Bool(r.IntN(5) == 0),
			Volumen:               decimalText("0."+strconv.Itoa(10+r.IntN(90)), 5),
			Ubicacion:             "1.00000",
			UbicacionAlfanumerica: wire.Text(fmt.Sprintf("%c-%02d", 'A'+rune(r.IntN(6)), 1+r.IntN(40))),
			PalabrasClave:         wire.Text(p.keywords + "," + strings.ToLower(brands[brand])),
			PorcentajeAiu:         "0.00",
		}
		if id == 2 {
			a.Codigo = "12345"
		}
		if r.IntN(3) == 0 {
			a.CostoU = decimalText(strconv.FormatInt(cost+(r.Int64N(200_001)-100_000)/100*100, 10), 2)
		}
		if r.IntN(4) == 0 {
			a.DescripcionAlterna = wire.Text(strings.ToLower(string(a.Descripcion)))
		}
		if r.IntN(3) == 0 {
			a.StockMinimoUnidades = decimalText(strconv.Itoa(1+r.IntN(10)), 5)
			a.StockOptimoUnidades = decimalText(strconv.Itoa(10+r.IntN(40)), 5)
		}
		if r.IntN(10) == 0 {
			a.AplicaAiu, a.PorcentajeAiu, a.IDGrupoContableAiu = true, "11.00", wire.NewInt(3)
		}
		if id%4 == 0 {
			a.CamposPersonalizados = json.RawMessage("null")
		} else {
			a.CamposPersonalizados = mustJSON(map[string]any{
				"GARANTIA_MESES": []int{6, 12, 24}[r.IntN(3)],
				"COLOR":          []string{"BLANCO", "GRIS", "NEGRO", "PLATEADO"}[r.IntN(4)],
				"ORIGEN":         []string{"NACIONAL", "IMPORTADO"}[r.IntN(2)],
			})
		}
		out[i] = a
	}
	return out
}

// seedArticulo is the record of the Articulo seed.
func seedArticulo() Articulo {
	return Articulo{
		ID: wire.NewInt(1), Codigo: "123", Referencia: "456", Barras: "123456789", Descripcion: "ARTICULO1",
		IDGrupoContable: wire.NewInt(2), IDLinea: wire.NewInt(1), IDCategoria: wire.NewInt(2),
		IDPresentacion: wire.NewInt(5), IDMarca: wire.NewInt(1), IDUnidadMedida: wire.NewInt(3),
		Peso: "0.00000", Costo: "1000.00", Activo: true, PosicionArancel: "1332", PorcentajeArancel: "0.00000",
		DiasMaximo: wire.NewInt(0), DiasMinimo: wire.NewInt(0), DiasOptimo: wire.NewInt(0), DiasReposicion: wire.NewInt(0),
		TipoPlaneacion: wire.NewInt(0), MultiploCompra: "1.00", PedidoMinimo: "1.00000",
		Volumen: "1.00000", Ubicacion: "1.00000", UbicacionAlfanumerica: "1", PalabrasClave: "prueba,articulo,casa",
		CamposPersonalizados: json.RawMessage(`{"PAGINAS":50,"Comentarios":"Cliente proveedor ","AUTOR":"Juan"}`),
		AplicaAiu:            true, PorcentajeAiu: "11.00", IDGrupoContableAiu: wire.NewInt(3),
	}
}

// articuloJSON shadows fields of Articulo whose simulator spelling
// differs from the type's own: descripcionalterna is null when empty (as
// in the seed), and some records send costo as a JSON string, as loosely
// typed upstreams do. Shadowed members move to the end of the object.
type articuloJSON struct {
	Articulo
	DescripcionAlterna *string `json:"descripcionalterna"`
	Costo              any     `json:"costo"`
}

// renderArticulo writes a; every tenth record has costo as a string.
func renderArticulo(a Articulo) json.RawMessage {
	if a.CamposPersonalizados == nil {
		a.CamposPersonalizados = json.RawMessage("null")
	}
	out := articuloJSON{Articulo: a, Costo: a.Costo}
	if alt := string(a.DescripcionAlterna); alt != "" {
		out.DescripcionAlterna = &alt
	}
	if a.ID.Value%10 == 7 && a.Costo != "" {
		out.Costo = string(a.Costo)
	}
	return mustJSON(out)
}

// renderImpuesto writes t (decimals as number literals, e.g. 5.00000).
func renderImpuesto(t Impuesto) json.RawMessage { return mustJSON(t) }

// decimalText writes the decimal text v with exactly places decimals,
// without going through floating point ("5" -> "5.00000").
func decimalText(v string, places int) wire.Decimal {
	whole, frac, _ := strings.Cut(v, ".")
	if len(frac) > places {
		frac = frac[:places]
	}
	frac += strings.Repeat("0", places-len(frac))
	if places == 0 {
		return wire.Decimal(whole)
	}
	return wire.Decimal(whole + "." + frac)
}

func mustAtoi(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		panic(fmt.Sprintf("serpi simulator: bad built-in code %q", s))
	}
	return n
}

// mustJSON encodes values the simulator built itself; failure is a bug.
func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("serpi simulator: encode: %v", err))
	}
	return b
}
