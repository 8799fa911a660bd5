package serpi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/serfigas/brilla-gateway/backends/serializer"
	"github.com/serfigas/brilla-gateway/backends/simkit"
	"github.com/serfigas/brilla-gateway/backends/upstream"
)

// demo is the simulator's default credential.
var demo = Credential{SecretKey: "demo-secret", Token: "demo-token"}

// startSim serves a simulator with cfg and returns it with a client that
// has its own serializer (so tests cannot interfere through the default).
func startSim(t *testing.T, cfg SimConfig, opts ...Option) (*Simulator, *httptest.Server, *Client) {
	t.Helper()
	sim := NewSimulator(cfg, simkit.NewControl(0))
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	opts = append([]Option{WithSerializer(serializer.NewLocal())}, opts...)
	return sim, srv, NewClient(srv.URL, opts...)
}

// rawResponse is an answer read without the client.
type rawResponse struct {
	status  int
	header  http.Header
	body    []byte
	members map[string]json.RawMessage // nil when the body is not a JSON object
}

// rawCall sends one request with the given headers, bypassing the client
// and its serializer.
func rawCall(t *testing.T, method, url string, header map[string]string, body string) rawResponse {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := rawResponse{status: resp.StatusCode, header: resp.Header, body: data}
	if len(data) > 0 && !json.Valid(data) {
		t.Fatalf("%s %s answered invalid JSON: %s", method, url, data)
	}
	_ = json.Unmarshal(data, &out.members)
	return out
}

// demoHeaders are the seed's headers with the demo credential.
func demoHeaders() map[string]string {
	return map[string]string{"secretkey": demo.SecretKey, "Authorization": "Bearer " + demo.Token}
}

// member decodes one envelope member.
func (r rawResponse) member(t *testing.T, name string, v any) {
	t.Helper()
	raw, ok := r.members[name]
	if !ok {
		t.Fatalf("answer has no %q member: %s", name, r.body)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("member %q: %v", name, err)
	}
}

// wantKind asserts err is an *upstream.Error of kind k from SERPI.
func wantKind(t *testing.T, err error, k upstream.Kind) *upstream.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", k)
	}
	ue, ok := err.(*upstream.Error)
	if !ok {
		t.Fatalf("error %T (%v) is not *upstream.Error", err, err)
	}
	if ue.Kind != k {
		t.Fatalf("kind = %v, want %v (error: %v)", ue.Kind, k, err)
	}
	if ue.Upstream != upstream.Serpi {
		t.Fatalf("upstream = %q, want %q", ue.Upstream, upstream.Serpi)
	}
	return ue
}

func sucursalID(s Sucursal) int64 { return s.ID.Value }
func impuestoID(i Impuesto) int64 { return i.ID.Value }
func articuloID(a Articulo) int64 { return a.ID.Value }
