package deploy

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

// manifests are the Kubernetes objects of deploy/k8s, decoded strictly
// (an unknown or misspelt field fails) into the API types.
type manifests struct {
	configMap  corev1.ConfigMap
	deployment appsv1.Deployment
	service    corev1.Service
	pdb        policyv1.PodDisruptionBudget
	hpa        autoscalingv2.HorizontalPodAutoscaler
}

func decode(t *testing.T, file string, kind string, out any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("k8s", file))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, out); err != nil {
		t.Fatalf("k8s/%s: %v", file, err)
	}
	var meta struct{ Kind string }
	_ = yaml.Unmarshal(data, &meta)
	if meta.Kind != kind {
		t.Fatalf("k8s/%s: kind %q, want %q", file, meta.Kind, kind)
	}
}

func load(t *testing.T) *manifests {
	t.Helper()
	m := &manifests{}
	decode(t, "configmap.yaml", "ConfigMap", &m.configMap)
	decode(t, "deployment.yaml", "Deployment", &m.deployment)
	decode(t, "service.yaml", "Service", &m.service)
	decode(t, "pdb.yaml", "PodDisruptionBudget", &m.pdb)
	decode(t, "hpa.yaml", "HorizontalPodAutoscaler", &m.hpa)
	return m
}

func (m *manifests) container(t *testing.T) corev1.Container {
	t.Helper()
	if n := len(m.deployment.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("the Deployment has %d containers, want 1", n)
	}
	return m.deployment.Spec.Template.Spec.Containers[0]
}

func TestKustomizationListsEveryManifest(t *testing.T) {
	data, err := os.ReadFile("k8s/kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		APIVersion string   `json:"apiVersion"`
		Kind       string   `json:"kind"`
		Resources  []string `json:"resources"`
	}
	if err := yaml.UnmarshalStrict(data, &k); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("k8s/*.yaml")
	for _, f := range files {
		if name := filepath.Base(f); name != "kustomization.yaml" && !slices.Contains(k.Resources, name) {
			t.Errorf("kustomization.yaml does not list %s", name)
		}
	}
	for _, r := range k.Resources {
		if _, err := os.Stat(filepath.Join("k8s", r)); err != nil {
			t.Errorf("kustomization.yaml lists %s: %v", r, err)
		}
	}
}

// Labels, selectors, ports and names agree across the objects.
func TestManifestsAgree(t *testing.T) {
	m := load(t)
	d := m.deployment
	labels := d.Spec.Template.Labels
	matches := func(sel map[string]string) bool {
		if len(sel) == 0 {
			return false
		}
		for k, v := range sel {
			if labels[k] != v {
				return false
			}
		}
		return true
	}
	if d.Spec.Selector == nil || !matches(d.Spec.Selector.MatchLabels) {
		t.Errorf("the Deployment's selector %v does not match its pod labels %v", d.Spec.Selector, labels)
	}
	if !matches(m.service.Spec.Selector) {
		t.Errorf("the Service selects %v, the pods are labelled %v", m.service.Spec.Selector, labels)
	}
	if m.pdb.Spec.Selector == nil || !matches(m.pdb.Spec.Selector.MatchLabels) {
		t.Errorf("the PodDisruptionBudget selects %v, the pods are labelled %v", m.pdb.Spec.Selector, labels)
	}
	ref := m.hpa.Spec.ScaleTargetRef
	if ref.Kind != "Deployment" || ref.Name != d.Name || ref.APIVersion != "apps/v1" {
		t.Errorf("the HPA scales %+v, not the Deployment %s", ref, d.Name)
	}
	if min := m.hpa.Spec.MinReplicas; min == nil || *min < 2 || m.hpa.Spec.MaxReplicas < *min {
		t.Errorf("HPA replicas %v..%d: want at least 2, max above min", min, m.hpa.Spec.MaxReplicas)
	} else if mu := m.pdb.Spec.MaxUnavailable; mu == nil || mu.IntValue() < 1 || mu.IntValue() >= int(*min) {
		t.Errorf("PDB maxUnavailable %v must let a node drain yet keep a replica of %d", mu, *min)
	}

	c := m.container(t)
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	for _, sp := range m.service.Spec.Ports {
		if _, ok := ports[sp.TargetPort.String()]; !ok && !slices.Contains(mapsValues(ports), sp.TargetPort.IntVal) {
			t.Errorf("Service port %s targets %s, which the container does not expose (%v)", sp.Name, sp.TargetPort.String(), ports)
		}
	}
	// The container listens where the ConfigMap tells the gateway to.
	for key, portName := range map[string]string{"ADDR": "http", "METRICS_ADDR": "metrics"} {
		_, port, err := net.SplitHostPort(m.configMap.Data[key])
		if err != nil {
			t.Errorf("ConfigMap %s = %q: %v", key, m.configMap.Data[key], err)
			continue
		}
		if strconv.Itoa(int(ports[portName])) != port {
			t.Errorf("ConfigMap %s listens on %s, the container port %q is %d", key, port, portName, ports[portName])
		}
	}
	if len(c.EnvFrom) != 1 || c.EnvFrom[0].ConfigMapRef == nil || c.EnvFrom[0].ConfigMapRef.Name != m.configMap.Name {
		t.Errorf("the container does not take its environment from the ConfigMap %s", m.configMap.Name)
	}
}

func mapsValues(m map[string]int32) []int32 {
	var out []int32
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// Probes, graceful termination, resources and the security context.
func TestDeploymentIsProductionReady(t *testing.T) {
	m := load(t)
	c := m.container(t)
	ports := map[string]bool{}
	for _, p := range c.Ports {
		ports[p.Name] = true
	}
	for name, want := range map[string]struct {
		probe *corev1.Probe
		path  string
	}{
		"readiness": {c.ReadinessProbe, "/readyz"},
		"liveness":  {c.LivenessProbe, "/healthz"},
		"startup":   {c.StartupProbe, "/healthz"},
	} {
		p := want.probe
		if p == nil || p.HTTPGet == nil {
			t.Errorf("%s probe: want an HTTP GET of %s", name, want.path)
			continue
		}
		if p.HTTPGet.Path != want.path || !ports[p.HTTPGet.Port.String()] {
			t.Errorf("%s probe: GET %s on port %s, want %s on a named container port", name, p.HTTPGet.Path, p.HTTPGet.Port.String(), want.path)
		}
	}

	spec := m.deployment.Spec.Template.Spec
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		t.Fatal("no preStop sleep: endpoints would still route to a stopping replica")
	}
	grace := gatewayShutdownGrace(t)
	if spec.TerminationGracePeriodSeconds == nil || *spec.TerminationGracePeriodSeconds <= c.Lifecycle.PreStop.Sleep.Seconds+grace {
		t.Errorf("terminationGracePeriodSeconds %v must exceed the preStop sleep (%d s) plus the gateway's shutdown grace (%d s)",
			spec.TerminationGracePeriodSeconds, c.Lifecycle.PreStop.Sleep.Seconds, grace)
	}

	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources %+v: want CPU and memory requests and a memory limit", c.Resources)
	}
	psc, sc := spec.SecurityContext, c.SecurityContext
	switch {
	case psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot:
		t.Error("the pod may run as root")
	case psc.RunAsUser == nil || *psc.RunAsUser != dockerfileUser(t):
		t.Errorf("the pod runs as %v, the image's USER is %d", psc.RunAsUser, dockerfileUser(t))
	case sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Error("the root filesystem is writable")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("privilege escalation is allowed")
	case sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL"):
		t.Error("capabilities are not all dropped")
	}
}

// gatewayShutdownGrace reads how long the gateway lets in-flight requests
// finish after SIGTERM (cmd/gateway's shutdownGrace).
func gatewayShutdownGrace(t *testing.T) int64 {
	t.Helper()
	src, err := os.ReadFile("../cmd/gateway/main.go")
	if err != nil {
		t.Fatal(err)
	}
	match := regexp.MustCompile(`shutdownGrace\s*=\s*(\d+)\s*\*\s*time\.Second`).FindSubmatch(src)
	if match == nil {
		t.Fatal("cmd/gateway/main.go: no shutdownGrace = N * time.Second; update this check")
	}
	n, _ := strconv.ParseInt(string(match[1]), 10, 64)
	return n
}

// dockerfileUser is the numeric USER of the image's final stages.
func dockerfileUser(t *testing.T) int64 {
	t.Helper()
	src, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	users := regexp.MustCompile(`(?m)^USER (\d+):\d+$`).FindAllSubmatch(src, -1)
	if len(users) == 0 {
		t.Fatal("Dockerfile: no numeric USER")
	}
	var uid int64
	for _, u := range users {
		n, _ := strconv.ParseInt(string(u[1]), 10, 64)
		if n == 0 || (uid != 0 && n != uid) {
			t.Fatalf("Dockerfile: USER %s (want one non-root user)", u[1])
		}
		uid = n
	}
	return uid
}

// The image is built static and runs as that non-root user from a
// distroless or scratch base.
func TestDockerfile(t *testing.T) {
	src, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	text := string(src)
	if !strings.Contains(text, "CGO_ENABLED=0") {
		t.Error("Dockerfile: the build is not CGO_ENABLED=0 (static)")
	}
	for _, stage := range []string{"gateway", "upstream-sim"} {
		re := regexp.MustCompile(`(?m)^FROM (\S+) AS ` + regexp.QuoteMeta(stage) + `$`)
		m := re.FindStringSubmatch(text)
		if m == nil || !(strings.HasPrefix(m[1], "gcr.io/distroless/static") || m[1] == "scratch") {
			t.Errorf("Dockerfile: stage %s is not FROM distroless/static or scratch: %v", stage, m)
		}
	}
	if uid := dockerfileUser(t); uid != 65532 {
		t.Errorf("USER %d, want 65532 (distroless nonroot)", uid)
	}
}

// gatewayEnv is every environment variable the gateway reads, from its
// -help (each flag's usage names its variable in parentheses).
func gatewayEnv(t *testing.T, binary string) map[string]bool {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(binary, "-help")
	cmd.Stdout, cmd.Stderr = &out, &out
	_ = cmd.Run()
	names := map[string]bool{}
	// -help names each setting's variable as "(env NAME; ...)" or "(or env NAME)".
	for _, m := range regexp.MustCompile(`\benv ([A-Z][A-Z0-9_]+)\b`).FindAllStringSubmatch(out.String(), -1) {
		names[m[1]] = true
	}
	if len(names) < 40 || !names["REDIS_URL"] || !names["PLAYGROUND"] {
		t.Fatalf("found %d variables in the gateway's -help; the format changed? %v", len(names), names)
	}
	return names
}

// runtimeEnv are variables the Go runtime reads, not the gateway.
var runtimeEnv = map[string]bool{"GOMEMLIMIT": true, "GOMAXPROCS": true, "GODEBUG": true}

// gatewayBinary is cmd/gateway built once for the tests that run it.
var gatewayBinary = struct {
	once sync.Once
	dir  string
	path string
	err  error
}{}

func buildGateway(t *testing.T) string {
	t.Helper()
	b := &gatewayBinary
	b.once.Do(func() {
		if b.dir, b.err = os.MkdirTemp("", "deploy-gateway"); b.err != nil {
			return
		}
		b.path = filepath.Join(b.dir, "gateway")
		cmd := exec.Command("go", "build", "-o", b.path, "./cmd/gateway")
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build ./cmd/gateway: %w\n%s", err, out)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if gatewayBinary.dir != "" {
		_ = os.RemoveAll(gatewayBinary.dir)
	}
	os.Exit(code)
}

// Every variable the manifests and the compose stack set is one the
// gateway reads; every secret comes from the operator's Secret under its
// own name and is documented in deploy/README.md.
func TestEnvironmentNamesExist(t *testing.T) {
	known := gatewayEnv(t, buildGateway(t))
	m := load(t)
	for name := range m.configMap.Data {
		if !known[name] {
			t.Errorf("ConfigMap key %s is not a gateway setting", name)
		}
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	secretName := ""
	for _, e := range m.container(t).Env {
		if !known[e.Name] && !runtimeEnv[e.Name] {
			t.Errorf("env %s is not a gateway setting", e.Name)
		}
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			continue
		}
		ref := e.ValueFrom.SecretKeyRef
		if secretName == "" {
			secretName = ref.Name
		}
		if ref.Name != secretName || ref.Key != e.Name {
			t.Errorf("env %s comes from secret %s key %s: want one Secret, keys named as the variables", e.Name, ref.Name, ref.Key)
		}
		if !bytes.Contains(readme, []byte("--from-literal="+e.Name+"=")) && !bytes.Contains(readme, []byte("--from-file="+e.Name+"=")) {
			t.Errorf("deploy/README.md does not show how to put %s in the Secret", e.Name)
		}
	}
	if !bytes.Contains(readme, []byte("kubectl create secret generic "+secretName)) {
		t.Errorf("deploy/README.md does not show how to create the Secret %s", secretName)
	}

	var compose struct {
		Services map[string]struct {
			Environment map[string]string `json:"environment"`
			Ports       []string          `json:"ports"`
		} `json:"services"`
	}
	data, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &compose); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	gateways := 0
	for name, svc := range compose.Services {
		if !strings.HasPrefix(name, "gateway-") {
			continue
		}
		gateways++
		for key := range svc.Environment {
			if !known[key] {
				t.Errorf("compose %s: %s is not a gateway setting", name, key)
			}
		}
	}
	if gateways != 3 {
		t.Errorf("compose.yaml runs %d gateway replicas, want 3", gateways)
	}
}

// Prometheus scrapes each compose replica on its metrics port, and every
// file the compose stack mounts is there (those of the observability work
// once merged: alerts.yml and the dashboard).
func TestComposeWiring(t *testing.T) {
	var compose struct {
		Services map[string]struct {
			Environment map[string]string `json:"environment"`
			Volumes     []string          `json:"volumes"`
		} `json:"services"`
	}
	data, _ := os.ReadFile("compose.yaml")
	if err := yaml.Unmarshal(data, &compose); err != nil {
		t.Fatal(err)
	}
	var prom struct {
		RuleFiles     []string `json:"rule_files"`
		ScrapeConfigs []struct {
			JobName       string `json:"job_name"`
			StaticConfigs []struct {
				Targets []string `json:"targets"`
			} `json:"static_configs"`
		} `json:"scrape_configs"`
	}
	pdata, err := os.ReadFile("prometheus/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(pdata, &prom); err != nil {
		t.Fatal(err)
	}
	var targets []string
	for _, sc := range prom.ScrapeConfigs {
		for _, s := range sc.StaticConfigs {
			targets = append(targets, s.Targets...)
		}
	}
	for name, svc := range compose.Services {
		if !strings.HasPrefix(name, "gateway-") {
			continue
		}
		_, port, err := net.SplitHostPort(svc.Environment["METRICS_ADDR"])
		if err != nil {
			t.Errorf("%s: METRICS_ADDR %q", name, svc.Environment["METRICS_ADDR"])
			continue
		}
		if !slices.Contains(targets, name+":"+port) {
			t.Errorf("Prometheus does not scrape %s:%s (targets %v)", name, port, targets)
		}
	}
	for name, svc := range compose.Services {
		for _, v := range svc.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if !strings.HasPrefix(src, "./") {
				continue
			}
			if _, err := os.Stat(src); err != nil {
				if src == "./prometheus/alerts.yml" || src == "./grafana/gateway-dashboard.json" {
					t.Logf("compose %s mounts %s, which the observability branch adds", name, src)
					continue
				}
				t.Errorf("compose %s mounts %s: %v", name, src, err)
			}
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// The gateway started with the ConfigMap's settings (listen addresses
// moved to free loopback ports, upstreams simulated in process) accepts
// them and answers the probes' paths on the probes' port, and /metrics
// on the metrics port.
func TestProbesHitRealEndpoints(t *testing.T) {
	m := load(t)
	bin := buildGateway(t)
	httpAddr, metricsAddr := freeAddr(t), freeAddr(t)
	env := []string{"ADDR=" + httpAddr, "METRICS_ADDR=" + metricsAddr, "PATH=" + os.Getenv("PATH")}
	for k, v := range m.configMap.Data {
		switch k {
		case "ADDR", "METRICS_ADDR", "BRILLA_URL", "SERPI_URL":
		default:
			env = append(env, k+"="+v)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "-demo")
	cmd.Env, cmd.Stdout, cmd.Stderr = env, &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() { cancel(); <-exited }()

	c := m.container(t)
	get := func(addr, path string) int {
		for range 100 {
			select {
			case err := <-exited:
				exited <- err
				t.Fatalf("the gateway exited (%v):\n%s", err, logs.String())
			default:
			}
			resp, err := http.Get("http://" + addr + path)
			if err == nil {
				resp.Body.Close()
				return resp.StatusCode
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Fatalf("GET %s%s: no answer\n%s", addr, path, logs.String())
		return 0
	}
	for _, p := range []*corev1.Probe{c.ReadinessProbe, c.LivenessProbe, c.StartupProbe} {
		if p.HTTPGet.Port.String() != "http" {
			t.Fatalf("probe on port %s: this check knows http", p.HTTPGet.Port.String())
		}
		if code := get(httpAddr, p.HTTPGet.Path); code != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", p.HTTPGet.Path, code)
		}
	}
	if code := get(metricsAddr, "/metrics"); code != http.StatusOK {
		t.Errorf("GET /metrics on METRICS_ADDR = %d", code)
	}
	if code := get(httpAddr, "/"); code != http.StatusNotFound {
		t.Errorf("PLAYGROUND=%s: GET / = %d, want 404", m.configMap.Data["PLAYGROUND"], code)
	}
}
