package serpi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/serfigas/brilla-gateway/backends/simkit"
	"github.com/serfigas/brilla-gateway/backends/upstream"
	"github.com/serfigas/brilla-gateway/backends/wire"
)

// SimConfig configures the SERPI simulator. Zero values take the defaults
// noted on each field.
type SimConfig struct {
	// Branches is how many branches (Sucursales) to generate (default 300).
	Branches int
	// Taxes is how many taxes (Impuesto) to generate (default 120).
	Taxes int
	// Articles is how many articles (Articulo) to generate (default 500).
	Articles int
	// Seed makes the generated data reproducible: the same Seed and
	// counts give the same records.
	Seed uint64
	// Credentials maps each accepted secret key to the tokens accepted
	// with it (default {"demo-secret": {"demo-token"}}).
	Credentials map[string][]string
	// CustomerNITs are NITs that must own branches (at least 3 each), so
	// that customers of the Brilla simulator have SERPI branches (default
	// {"123456789", "987654321"}).
	CustomerNITs []string
	// DefaultPageSize is the page size when a GET has no "limite"
	// (default DefaultPageSize, 50).
	DefaultPageSize int
	// MaxPageSize is the largest "limite" accepted; larger values are a
	// 400, not silently clamped, so a client walking pages cannot mistake
	// a clamped page for the last one (default 1000).
	MaxPageSize int
	// CallDuration is how long every accepted call holds its token,
	// standing for SERPI's own work. It makes concurrent use of a token
	// observable (and refused); 0 answers at once.
	CallDuration time.Duration
}

// withDefaults fills the zero values.
func (c SimConfig) withDefaults() SimConfig {
	if c.Branches <= 0 {
		c.Branches = 300
	}
	if c.Taxes <= 0 {
		c.Taxes = 120
	}
	if c.Articles <= 0 {
		c.Articles = 500
	}
	if len(c.Credentials) == 0 {
		c.Credentials = map[string][]string{"demo-secret": {"demo-token"}}
	}
	if len(c.CustomerNITs) == 0 {
		c.CustomerNITs = []string{"123456789", "987654321"}
	}
	if c.DefaultPageSize <= 0 {
		c.DefaultPageSize = DefaultPageSize
	}
	if c.MaxPageSize <= 0 {
		c.MaxPageSize = 1000
	}
	c.DefaultPageSize = min(c.DefaultPageSize, c.MaxPageSize)
	return c
}

// Simulator serves the SERPI Sucursales, Impuesto and Articulo APIs over
// seeded in-memory data, following the seeds' paths, headers, envelopes
// and quirks, and refusing a token already in use. It is safe for
// concurrent use.
type Simulator struct {
	cfg   SimConfig
	ctl   *simkit.Control
	creds map[string]map[string]bool // secret key -> accepted tokens

	mu         sync.RWMutex
	sucursales *table[Sucursal]
	impuestos  *table[Impuesto]
	articulos  *table[Articulo]
	codigos    map[string]int64 // articulo codigo -> id
	terceros   map[int64]string // id_tercero -> nit_tercero
}

// NewSimulator generates the data of cfg. ctl receives the call counters
// and injected faults; nil gets a private Control.
func NewSimulator(cfg SimConfig, ctl *simkit.Control) *Simulator {
	cfg = cfg.withDefaults()
	if ctl == nil {
		ctl = simkit.NewControl(0)
	}
	s := &Simulator{
		cfg:        cfg,
		ctl:        ctl,
		creds:      map[string]map[string]bool{},
		sucursales: newTable(renderSucursal),
		impuestos:  newTable(renderImpuesto),
		articulos:  newTable(renderArticulo),
		codigos:    map[string]int64{},
		terceros:   map[int64]string{},
	}
	for secret, tokens := range cfg.Credentials {
		set := map[string]bool{}
		for _, t := range tokens {
			set[t] = true
		}
		s.creds[secret] = set
	}
	// One random stream per data set, so that changing one count does
	// not reshuffle the others.
	stream := func(n uint64) *rand.Rand { return rand.New(rand.NewPCG(cfg.Seed, n)) }

	terceros := genTerceros(stream(1), cfg.CustomerNITs)
	customers := 0
	for _, t := range terceros {
		s.terceros[t.id] = t.nit
		for _, c := range cfg.CustomerNITs {
			if strings.TrimSpace(c) == t.nit {
				customers++
				break
			}
		}
	}
	for _, b := range genSucursales(stream(2), cfg.Branches, terceros, customers) {
		s.sucursales.put(b.ID.Value, b)
	}
	for _, t := range genImpuestos(stream(3), cfg.Taxes) {
		s.impuestos.put(t.ID.Value, t)
	}
	for _, a := range genArticulos(stream(4), cfg.Articles) {
		s.articulos.put(a.ID.Value, a)
		s.codigos[string(a.Codigo)] = a.ID.Value
	}
	return s
}

// Config returns the configuration in effect (defaults filled in).
func (s *Simulator) Config() SimConfig { return s.cfg }

// Control returns the counters and faults the simulator reports to.
func (s *Simulator) Control() *simkit.Control { return s.ctl }

// Register adds the SERPI routes to mux. Each is counted under its
// pattern, e.g. "GET /api/v1/Sucursales" or "POST /api/v1/Impuesto".
func (s *Simulator) Register(mux *http.ServeMux) {
	routes := []struct {
		method, path string
		op           func(http.ResponseWriter, *http.Request) reply
	}{
		{http.MethodGet, PathSucursales, s.listSucursales},
		{http.MethodPost, PathSucursales, s.createSucursal},
		{http.MethodPut, PathSucursales, s.updateSucursal},
		{http.MethodGet, PathImpuesto, s.listImpuestos},
		{http.MethodPost, PathImpuesto, s.createImpuesto},
		{http.MethodPut, PathImpuesto, s.updateImpuesto},
		{http.MethodGet, PathArticulo, s.listArticulos},
		{http.MethodPost, PathArticulo, s.createArticulos},
		{http.MethodPut, PathArticulo, s.updateArticulos},
	}
	for _, rt := range routes {
		s.ctl.HandleGuarded(mux, upstream.Serpi, rt.method+" "+rt.path, s.guard(), writeFault, s.serve(rt.op))
	}
}

// Handler returns the SERPI routes on their own mux. The /_sim control
// endpoints are not included: they belong to the Control, which may be
// shared with other simulators (mount ctl.Handler() once).
func (s *Simulator) Handler() http.Handler {
	mux := http.NewServeMux()
	s.Register(mux)
	return mux
}

// ---- envelopes ------------------------------------------------------------

// envOut is the SERPI envelope as the simulator writes it. Errors and
// Result are raw so that each answer can have exactly the seed's shape:
// omitted, null, [] or a list.
type envOut struct {
	Success bool            `json:"success"`
	Code    int             `json:"code"`
	Errors  json.RawMessage `json:"errors,omitempty"`
	Message string          `json:"message"`
	Result  json.RawMessage `json:"result,omitempty"`
}

// reply is an HTTP status and the envelope to send with it.
type reply struct {
	status int
	env    envOut
}

var (
	rawNull      = json.RawMessage("null")
	rawEmptyList = json.RawMessage("[]")
)

// errList renders messages; an empty list is [] (the bulk answers' shape).
func errList(msgs []string) json.RawMessage {
	if msgs == nil {
		msgs = []string{}
	}
	return mustJSON(msgs)
}

// failure is an error answer: HTTP status and body code agree.
func failure(status int, message string, errs ...string) reply {
	return reply{status, envOut{Success: false, Code: status, Errors: errList(errs), Message: message}}
}

func writeReply(w http.ResponseWriter, rep reply) {
	simkit.WriteJSON(w, rep.status, rep.env)
}

// writeFault answers an injected fault with SERPI's envelope.
func writeFault(w http.ResponseWriter, status int) {
	writeReply(w, failure(status, http.StatusText(status), "Falla simulada: "+http.StatusText(status)))
}

// tokenInUse is SERPI refusing a token consumed concurrently. The seeds
// state the rule but not the answer; the simulator uses HTTP 429 with body
// code 429, which the client maps to KindRateLimited.
func tokenInUse() reply {
	return failure(http.StatusTooManyRequests, "El token no puede ser consumido de manera simultanea", "El token se encuentra en uso")
}

// ---- auth and per-token concurrency ----------------------------------------

// guard applies SERPI's rule that a token serves one call at a time. It
// runs before the simulated latency, so two calls overlapping anywhere in
// their lifetime collide, as on the real service. Only tokens the secret
// key accepts are tracked: an unknown token is refused as unauthorized.
func (s *Simulator) guard() simkit.Guard {
	return simkit.Guard{
		Token: func(r *http.Request) string {
			token, _, ok := s.authenticate(r)
			if !ok {
				return ""
			}
			return token
		},
		Exclusive: true,
		Refuse: func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", "1")
			writeReply(w, tokenInUse())
		},
	}
}

// serve wraps an operation with authentication and the simulated
// processing time.
func (s *Simulator) serve(op func(http.ResponseWriter, *http.Request) reply) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, rep, ok := s.authenticate(r); !ok {
			writeReply(w, rep)
			return
		}
		if !simkit.Sleep(r, s.cfg.CallDuration) {
			return
		}
		writeReply(w, op(w, r))
	}
}

// authenticate checks the "secretkey" header and the bearer token. The
// answer never quotes what was sent.
func (s *Simulator) authenticate(r *http.Request) (string, reply, bool) {
	tokens, ok := s.creds[strings.TrimSpace(r.Header.Get("secretkey"))]
	if !ok {
		return "", failure(http.StatusUnauthorized, "No autorizado", "La secretkey no es valida"), false
	}
	token := bearerToken(r.Header.Get("Authorization"))
	if token == "" || !tokens[token] {
		return "", failure(http.StatusUnauthorized, "No autorizado", "El token de autorizacion no es valido"), false
	}
	return token, reply{}, true
}

// bearerToken accepts "Bearer x", "bearer x" and, as the seeds' code
// samples send it, "Bearerx".
func bearerToken(h string) string {
	h = strings.TrimSpace(h)
	const prefix = "bearer"
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return ""
	}
	return strings.TrimSpace(h[len(prefix):])
}

// ---- GET ------------------------------------------------------------------

// listParams are a GET's parsed query parameters.
type listParams struct {
	limit, page int
	codigo      string
}

// parseList reads "limite", "pagina" and "codigo" case-insensitively and
// with or without accents (the seeds write "Límite", "Página" in tables
// and "limite", "pagina" in URLs).
func (s *Simulator) parseList(r *http.Request) (listParams, []string) {
	p := listParams{limit: s.cfg.DefaultPageSize, page: 1}
	var errs []string
	fold := strings.NewReplacer("í", "i", "á", "a", "Í", "i", "Á", "a")
	for key, values := range r.URL.Query() {
		if len(values) == 0 {
			continue
		}
		v := strings.TrimSpace(values[0])
		switch strings.ToLower(fold.Replace(key)) {
		case "limite":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > s.cfg.MaxPageSize {
				errs = append(errs, fmt.Sprintf("El parametro limite debe ser un numero entero entre 1 y %d", s.cfg.MaxPageSize))
				continue
			}
			p.limit = n
		case "pagina":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				errs = append(errs, "El parametro pagina debe ser un numero entero mayor o igual a 1")
				continue
			}
			p.page = n
		case "codigo":
			p.codigo = v
		}
	}
	return p, errs
}

// pageReply answers one page. Past the end SERPI answers code 201 "No se
// encontraron registros" with an empty result (the seed's quirk).
func pageReply(rows []json.RawMessage) reply {
	if len(rows) == 0 {
		return reply{http.StatusOK, envOut{Success: true, Code: 201, Message: "No se encontraron registros", Result: rawEmptyList}}
	}
	var b bytes.Buffer
	b.WriteByte('[')
	for i, row := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(row)
	}
	b.WriteByte(']')
	return reply{http.StatusOK, envOut{
		Success: true, Code: 200, Errors: rawNull,
		Message: fmt.Sprintf("%d registro(s) encontrados", len(rows)),
		Result:  b.Bytes(),
	}}
}

func badQuery(errs []string) reply {
	return failure(http.StatusBadRequest, "Se presentaron errores en la consulta", errs...)
}

func (s *Simulator) listSucursales(_ http.ResponseWriter, r *http.Request) reply {
	p, errs := s.parseList(r)
	if len(errs) > 0 {
		return badQuery(errs)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return pageReply(s.sucursales.page(p.limit, p.page))
}

func (s *Simulator) listImpuestos(_ http.ResponseWriter, r *http.Request) reply {
	p, errs := s.parseList(r)
	if len(errs) > 0 {
		return badQuery(errs)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return pageReply(s.impuestos.page(p.limit, p.page))
}

func (s *Simulator) listArticulos(_ http.ResponseWriter, r *http.Request) reply {
	p, errs := s.parseList(r)
	if len(errs) > 0 {
		return badQuery(errs)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if p.codigo == "" {
		return pageReply(s.articulos.page(p.limit, p.page))
	}
	id, ok := s.codigos[p.codigo]
	if !ok {
		// The seed's shape for a codigo without match: code 204, no
		// errors and no result member at all.
		return reply{http.StatusOK, envOut{Success: true, Code: 204, Message: "No se encontraron registros"}}
	}
	var rows []json.RawMessage
	if p.page == 1 {
		rows = []json.RawMessage{s.articulos.raw[s.articulos.index[id]]}
	}
	return pageReply(rows)
}

// ---- POST and PUT of single records ----------------------------------------

// maxBodyBytes bounds request bodies.
const maxBodyBytes = 8 << 20

// Field rules from the seeds' request tables. "required" fields must be
// present and non-empty; "present" fields must be sent but may be null or
// "": the tables mark them SI, yet the seeds' own examples send null
// (referencia_sucursal, telefono). The codes of city, department, country
// and the NIT are not required on PUT (the PUT example omits them): they
// are derived from the ids.
var (
	sucursalCreateRequired = []string{"id_tercero", "nit_tercero", "codigo", "descripcion", "direccion",
		"id_ciudad", "codigo_ciudad", "id_departamento", "codigo_departamento", "id_pais", "codigo_pais",
		"id_vendedor", "es_direccionCobro", "es_direccionDespacho"}
	sucursalUpdateRequired = []string{"id", "id_tercero", "codigo", "descripcion", "direccion",
		"id_ciudad", "id_departamento", "id_pais", "id_vendedor", "es_direccionCobro", "es_direccionDespacho"}
	sucursalPresent        = []string{"referencia_sucursal", "telefono"}
	impuestoCreateRequired = []string{"descripcion", "valor", "aplica", "_base", "cuenta_impuesto"}
	articuloCreateRequired = []string{"codigo", "descripcion", "idgrupocontable", "idlinea", "idcategoria",
		"idpresentacion", "idmarca", "idunidadmedida", "activo"}
)

// maxFieldLen is the "Longitud" of the seeds' tables.
const maxFieldLen = 50

const (
	msgCreateErrors = "Se presentaron errores al crear el registro"
	msgUpdateErrors = "Se presentaron errores al modificar el registro"
)

func notFoundID(id int64) reply {
	return reply{http.StatusOK, envOut{Success: false, Code: 204, Errors: rawNull,
		Message: fmt.Sprintf("No se encontraron registros con el id %d", id)}}
}

// fields is a JSON object with its member names lower-cased, because
// SERPI's .NET binder matches names case-insensitively.
type fields map[string]json.RawMessage

// readBody decodes the request body into v, answering 400 when it is not
// JSON of the right shape.
func readBody(w http.ResponseWriter, r *http.Request, v any, failMsg string) (reply, bool) {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err := dec.Decode(v); err != nil {
		return failure(http.StatusBadRequest, failMsg, "El cuerpo de la solicitud no es un JSON valido"), false
	}
	return reply{}, true
}

func toFields(obj map[string]json.RawMessage) fields {
	f := make(fields, len(obj))
	for k, v := range obj {
		f[strings.ToLower(k)] = v
	}
	return f
}

func (f fields) has(name string) bool {
	_, ok := f[strings.ToLower(name)]
	return ok
}

// filled reports a member that is present, not null and not blank.
func (f fields) filled(name string) bool {
	raw, ok := f[strings.ToLower(name)]
	if !ok {
		return false
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, rawNull) {
		return false
	}
	var s string
	if raw[0] == '"' && json.Unmarshal(raw, &s) == nil && strings.TrimSpace(s) == "" {
		return false
	}
	return true
}

// check applies the required/present rules and returns SERPI-style
// messages in rule order.
func (f fields) check(required, present []string) []string {
	var errs []string
	for _, name := range required {
		if !f.filled(name) {
			errs = append(errs, fmt.Sprintf("El campo %s es obligatorio", name))
		}
	}
	for _, name := range present {
		if !f.has(name) {
			errs = append(errs, fmt.Sprintf("El campo %s es obligatorio", name))
		}
	}
	return errs
}

// decodeInto decodes each member into the field of dst with the same JSON
// name, one at a time, so that a malformed member yields a message naming
// it instead of failing the whole record.
func (f fields) decodeInto(dst any) []string {
	var errs []string
	rv := reflect.ValueOf(dst).Elem()
	rt := rv.Type()
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		raw, ok := f[strings.ToLower(name)]
		if !ok {
			continue
		}
		if err := json.Unmarshal(raw, rv.Field(i).Addr().Interface()); err != nil {
			errs = append(errs, fmt.Sprintf("El campo %s no tiene un formato valido", name))
		}
	}
	return errs
}

// checkLengths reports text fields longer than maxFieldLen characters,
// except those named in exempt.
func checkLengths(v any, exempt ...string) []string {
	var errs []string
	rv := reflect.ValueOf(v)
	rt := rv.Type()
	textType := reflect.TypeFor[wire.Text]()
	for i := range rt.NumField() {
		if rt.Field(i).Type != textType {
			continue
		}
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		if utf8.RuneCountInString(rv.Field(i).String()) > maxFieldLen && !slices.Contains(exempt, name) {
			errs = append(errs, fmt.Sprintf("El campo %s no puede tener mas de %d caracteres", name, maxFieldLen))
		}
	}
	return errs
}

// readRecord decodes a single-record body and validates it.
func readRecord[T any](w http.ResponseWriter, r *http.Request, failMsg string, required, present []string) (T, reply, bool) {
	var rec T
	var obj map[string]json.RawMessage
	if rep, ok := readBody(w, r, &obj, failMsg); !ok {
		return rec, rep, false
	}
	if obj == nil {
		return rec, failure(http.StatusBadRequest, failMsg, "El cuerpo de la solicitud debe ser un objeto JSON"), false
	}
	f := toFields(obj)
	errs := f.decodeInto(&rec)
	errs = append(errs, f.check(required, present)...)
	errs = append(errs, checkLengths(rec)...)
	if len(errs) > 0 {
		return rec, failure(http.StatusBadRequest, failMsg, errs...), false
	}
	return rec, reply{}, true
}

func created() reply {
	return reply{http.StatusCreated, envOut{Success: true, Code: 201, Errors: rawNull, Message: "registro creado exitosamente"}}
}

func modified() reply {
	return reply{http.StatusOK, envOut{Success: true, Code: 200, Errors: rawNull, Message: "registro modificado exitosamente"}}
}

func (s *Simulator) createSucursal(w http.ResponseWriter, r *http.Request) reply {
	b, rep, ok := readRecord[Sucursal](w, r, msgCreateErrors, sucursalCreateRequired, sucursalPresent)
	if !ok {
		return rep
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b.ID = wire.NewInt(s.sucursales.nextID)
	if _, known := s.terceros[b.IDTercero.Value]; !known {
		s.terceros[b.IDTercero.Value] = string(b.NitTercero)
	}
	s.sucursales.put(b.ID.Value, b)
	return created()
}

func (s *Simulator) updateSucursal(w http.ResponseWriter, r *http.Request) reply {
	b, rep, ok := readRecord[Sucursal](w, r, msgUpdateErrors, sucursalUpdateRequired, sucursalPresent)
	if !ok {
		return rep
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, found := s.sucursales.get(b.ID.Value)
	if !found {
		return notFoundID(b.ID.Value)
	}
	// Derive what the seed's PUT example leaves out.
	if b.NitTercero == "" {
		if nit, ok := s.terceros[b.IDTercero.Value]; ok {
			b.NitTercero = wire.Text(nit)
		} else {
			b.NitTercero = old.NitTercero
		}
	}
	if b.CodigoCiudad == "" {
		b.CodigoCiudad = wire.Text(fmt.Sprintf("%05d", b.IDCiudad.Value))
	}
	if b.CodigoDepartamento == "" {
		b.CodigoDepartamento = wire.Text(fmt.Sprintf("%02d", b.IDDepartamento.Value))
	}
	if b.CodigoPais == "" {
		b.CodigoPais = old.CodigoPais
		if b.IDPais.Value == 1 {
			b.CodigoPais = "57"
		}
	}
	s.sucursales.put(b.ID.Value, b)
	return modified()
}

func (s *Simulator) createImpuesto(w http.ResponseWriter, r *http.Request) reply {
	t, rep, ok := readRecord[Impuesto](w, r, msgCreateErrors, impuestoCreateRequired, nil)
	if !ok {
		return rep
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t.ID = wire.NewInt(s.impuestos.nextID)
	s.impuestos.put(t.ID.Value, t)
	return created()
}

func (s *Simulator) updateImpuesto(w http.ResponseWriter, r *http.Request) reply {
	required := append([]string{"id"}, impuestoCreateRequired...)
	t, rep, ok := readRecord[Impuesto](w, r, msgUpdateErrors, required, nil)
	if !ok {
		return rep
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, found := s.impuestos.get(t.ID.Value); !found {
		return notFoundID(t.ID.Value)
	}
	s.impuestos.put(t.ID.Value, t)
	return modified()
}

// ---- bulk Articulo ------------------------------------------------------------

// readItems decodes a bulk body: a JSON array of objects.
func readItems(w http.ResponseWriter, r *http.Request, failMsg string) ([]json.RawMessage, reply, bool) {
	var items []json.RawMessage
	if rep, ok := readBody(w, r, &items, failMsg); !ok {
		return nil, rep, false
	}
	if len(items) == 0 {
		return nil, failure(http.StatusBadRequest, failMsg, "El cuerpo debe contener al menos un articulo"), false
	}
	return items, reply{}, true
}

// itemPrefix names an item by its 1-based position in the request, so
// the caller can map each message back to its input.
func itemPrefix(i int) string { return fmt.Sprintf("Articulo %d: ", i+1) }

// readArticulo decodes and validates one bulk item.
func readArticulo(raw json.RawMessage, required []string) (Articulo, []string) {
	var a Articulo
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return a, []string{"El articulo debe ser un objeto JSON"}
	}
	f := toFields(obj)
	errs := f.decodeInto(&a)
	errs = append(errs, f.check(required, nil)...)
	// The Articulo seed has no Longitud column; its texts get the same
	// 50-character limit as the other tables, except the keyword list,
	// whose limit applies to each keyword (the gateway checks that).
	errs = append(errs, checkLengths(a, "palabrasClave")...)
	a.Codigo = wire.Text(strings.TrimSpace(string(a.Codigo)))
	if a.CamposPersonalizados == nil {
		a.CamposPersonalizados = rawNull
	}
	return a, errs
}

// bulkReply reports a bulk write: the valid items were applied, the
// others are listed by position. No valid item at all is a 400.
func bulkReply(okStatus int, verb string, done, total int, errs []string) reply {
	msg := fmt.Sprintf("Se %s %d de %d articulos", verb, done, total)
	if done == 0 {
		return reply{http.StatusBadRequest, envOut{Success: false, Code: 400, Errors: errList(errs), Message: msg}}
	}
	return reply{okStatus, envOut{Success: true, Code: okStatus, Errors: errList(errs), Message: msg}}
}

func (s *Simulator) createArticulos(w http.ResponseWriter, r *http.Request) reply {
	const failMsg = "Se presentaron errores al crear los articulos"
	items, rep, ok := readItems(w, r, failMsg)
	if !ok {
		return rep
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []string
	done := 0
	for i, raw := range items {
		a, itemErrs := readArticulo(raw, articuloCreateRequired)
		if a.Codigo != "" {
			if _, dup := s.codigos[string(a.Codigo)]; dup {
				itemErrs = append(itemErrs, fmt.Sprintf("Ya existe un articulo con el codigo %s", a.Codigo))
			}
		}
		if len(itemErrs) > 0 {
			for _, e := range itemErrs {
				errs = append(errs, itemPrefix(i)+e)
			}
			continue
		}
		a.ID = wire.NewInt(s.articulos.nextID)
		s.articulos.put(a.ID.Value, a)
		s.codigos[string(a.Codigo)] = a.ID.Value
		done++
	}
	return bulkReply(http.StatusCreated, "crearon", done, len(items), errs)
}

func (s *Simulator) updateArticulos(w http.ResponseWriter, r *http.Request) reply {
	const failMsg = "Se presentaron errores al modificar los articulos"
	items, rep, ok := readItems(w, r, failMsg)
	if !ok {
		return rep
	}
	required := append([]string{"id"}, articuloCreateRequired...)
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []string
	done := 0
	for i, raw := range items {
		a, itemErrs := readArticulo(raw, required)
		var old Articulo
		if len(itemErrs) == 0 {
			var found bool
			if old, found = s.articulos.get(a.ID.Value); !found {
				itemErrs = append(itemErrs, fmt.Sprintf("No se encontraron registros con el id %d", a.ID.Value))
			} else if other, taken := s.codigos[string(a.Codigo)]; taken && other != a.ID.Value {
				itemErrs = append(itemErrs, fmt.Sprintf("Ya existe un articulo con el codigo %s", a.Codigo))
			}
		}
		if len(itemErrs) > 0 {
			for _, e := range itemErrs {
				errs = append(errs, itemPrefix(i)+e)
			}
			continue
		}
		delete(s.codigos, string(old.Codigo))
		s.articulos.put(a.ID.Value, a)
		s.codigos[string(a.Codigo)] = a.ID.Value
		done++
	}
	return bulkReply(http.StatusOK, "modificaron", done, len(items), errs)
}

// ---- storage --------------------------------------------------------------------

// table holds records ordered by id with their rendered JSON, so that a
// GET only copies bytes.
type table[T any] struct {
	ids    []int64
	rows   []T
	raw    []json.RawMessage
	index  map[int64]int
	nextID int64
	render func(T) json.RawMessage
}

func newTable[T any](render func(T) json.RawMessage) *table[T] {
	return &table[T]{index: map[int64]int{}, nextID: 1, render: render}
}

// put inserts or replaces the record id. New ids are always above the
// current maximum, so appending keeps the order.
func (t *table[T]) put(id int64, v T) {
	if i, ok := t.index[id]; ok {
		t.rows[i], t.raw[i] = v, t.render(v)
		return
	}
	t.index[id] = len(t.ids)
	t.ids = append(t.ids, id)
	t.rows = append(t.rows, v)
	t.raw = append(t.raw, t.render(v))
	if id >= t.nextID {
		t.nextID = id + 1
	}
}

func (t *table[T]) get(id int64) (T, bool) {
	i, ok := t.index[id]
	if !ok {
		var zero T
		return zero, false
	}
	return t.rows[i], true
}

// page returns page (from 1) of limit records; nil past the end.
func (t *table[T]) page(limit, page int) []json.RawMessage {
	n := len(t.raw)
	if limit <= 0 || page <= 0 || page-1 >= (n+limit-1)/limit {
		return nil
	}
	start := (page - 1) * limit
	end := min(start+limit, n)
	return append([]json.RawMessage(nil), t.raw[start:end]...)
}
