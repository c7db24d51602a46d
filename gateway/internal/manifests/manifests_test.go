// The race detector finds nothing in a decode of files, and would double
// the build of k8s.io/api on a fresh machine: make test runs this test
// without -race (make manifests).

//go:build !race

package manifests

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"fanout/gateway/assembly"
	"fanout/gateway/internal/auth"
	"fanout/gateway/internal/config"
	"fanout/gateway/internal/store"
)

// dir holds the manifests.
const dir = "../../../deploy/k8s"

// objects are the manifests' objects, by kind and name.
type objects struct {
	deployments map[string]*appsv1.Deployment
	services    map[string]*corev1.Service
	secrets     map[string]*corev1.Secret
	pdbs        map[string]*policyv1.PodDisruptionBudget
	hpas        map[string]*autoscalingv2.HorizontalPodAutoscaler
}

// decode decodes one YAML document strictly (unknown and duplicate fields
// are errors) into the API type of its apiVersion and kind, and files it.
// Only the kinds Fanout ships are known: another is an error.
func (o *objects) decode(doc []byte) error {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return err
	}
	var meta *metav1.ObjectMeta
	var obj any
	switch tm.APIVersion + " " + tm.Kind {
	case "apps/v1 Deployment":
		d := &appsv1.Deployment{}
		obj, meta = d, &d.ObjectMeta
		defer func() { o.deployments[d.Name] = d }()
	case "v1 Service":
		s := &corev1.Service{}
		obj, meta = s, &s.ObjectMeta
		defer func() { o.services[s.Name] = s }()
	case "v1 Secret":
		s := &corev1.Secret{}
		obj, meta = s, &s.ObjectMeta
		defer func() { o.secrets[s.Name] = s }()
	case "policy/v1 PodDisruptionBudget":
		p := &policyv1.PodDisruptionBudget{}
		obj, meta = p, &p.ObjectMeta
		defer func() { o.pdbs[p.Name] = p }()
	case "autoscaling/v2 HorizontalPodAutoscaler":
		h := &autoscalingv2.HorizontalPodAutoscaler{}
		obj, meta = h, &h.ObjectMeta
		defer func() { o.hpas[h.Name] = h }()
	default:
		return fmt.Errorf("apiVersion %q kind %q: not a kind Fanout ships", tm.APIVersion, tm.Kind)
	}
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return fmt.Errorf("%s: %w", tm.Kind, err)
	}
	if meta.Name == "" {
		return fmt.Errorf("%s without a name", tm.Kind)
	}
	return nil
}

// documents splits a YAML stream at its "---" lines.
func documents(data []byte) [][]byte {
	var docs [][]byte
	for _, d := range bytes.Split(append([]byte("\n"), data...), []byte("\n---\n")) {
		if len(bytes.TrimSpace(stripComments(d))) > 0 {
			docs = append(docs, d)
		}
	}
	return docs
}

// stripComments drops whole-line comments, to tell an empty document.
func stripComments(d []byte) []byte {
	var b bytes.Buffer
	for line := range bytes.Lines(d) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			b.Write(line)
		}
	}
	return b.Bytes()
}

// load decodes every manifest of dir.
func load(t *testing.T) *objects {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in %s (%v)", dir, err)
	}
	o := &objects{deployments: map[string]*appsv1.Deployment{}, services: map[string]*corev1.Service{},
		secrets: map[string]*corev1.Secret{}, pdbs: map[string]*policyv1.PodDisruptionBudget{},
		hpas: map[string]*autoscalingv2.HorizontalPodAutoscaler{}}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range documents(data) {
			if err := o.decode(doc); err != nil {
				t.Errorf("%s, document %d: %v", filepath.Base(f), i+1, err)
			}
		}
	}
	return o
}

// TestStrictDecoding: the decoder the manifests are checked with refuses
// what the API server would drop or refuse: a misspelt field, a field
// given twice, a value of the wrong type, a kind Fanout does not ship.
func TestStrictDecoding(t *testing.T) {
	cases := []struct {
		doc, want string // want: in the error
	}{
		{"apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {selectr: {app: a}}", "selectr"},            // misspelt
		{"apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {type: ClusterIP, type: NodePort}", "type"}, // twice
		{"apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec: {replicas: three}", "replicas"},     // a string for a number
		{"apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: a}", "CronJob"},                                 // not shipped
		{"apiVersion: v1\nkind: Service\nspec: {}", "without a name"},
	}
	for _, c := range cases {
		o := &objects{services: map[string]*corev1.Service{}, deployments: map[string]*appsv1.Deployment{}}
		if err := o.decode([]byte(c.doc)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want one naming %s", c.doc, err, c.want)
		}
	}
}

// TestManifests: every manifest decodes strictly, and the gateway's
// Deployment names only what the gateway has: its arguments parse with the
// gateway's own flags, its probes reach paths the admin listener serves
// on the admin port the arguments set, the Service targets the public
// port, the tokens file is the mounted Secret's key and loads, the Redis
// password comes by the gateway's variable, and a stop fits in the grace
// period Kubernetes gives it.
func TestManifests(t *testing.T) {
	o := load(t)
	d := o.deployments["fanout-gateway"]
	if d == nil {
		t.Fatal("no Deployment fanout-gateway")
	}
	pod := d.Spec.Template.Spec
	var c *corev1.Container
	for i := range pod.Containers {
		if pod.Containers[i].Name == "gateway" {
			c = &pod.Containers[i]
		}
	}
	if c == nil {
		t.Fatal("the Deployment has no container gateway")
	}
	cfg, err := config.Parse(c.Args, io.Discard)
	if err != nil {
		t.Fatalf("the gateway refuses its arguments %q: %v", c.Args, err)
	}
	publicPort, adminPort := port(t, cfg.Addr), port(t, cfg.AdminAddr)

	t.Run("ports", func(t *testing.T) {
		ports := map[string]int32{}
		for _, p := range c.Ports {
			ports[p.Name] = p.ContainerPort
		}
		if ports["http"] != publicPort || ports["admin"] != adminPort {
			t.Errorf("container ports %v, want http %d (-addr) and admin %d (-admin-addr)", ports, publicPort, adminPort)
		}
		svc := o.services["fanout-gateway"]
		if svc == nil {
			t.Fatal("no Service fanout-gateway")
		}
		if !matches(svc.Spec.Selector, d.Spec.Template.Labels) {
			t.Errorf("the Service's selector %v does not select the pods %v", svc.Spec.Selector, d.Spec.Template.Labels)
		}
		for _, p := range svc.Spec.Ports {
			if resolve(p.TargetPort, c) != publicPort {
				t.Errorf("the Service's port %d targets %s, not the public port %d", p.Port, p.TargetPort.String(), publicPort)
			}
		}
	})

	t.Run("probes", func(t *testing.T) {
		admin := adminHandler(t, cfg)
		for name, probe := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
			if probe == nil || probe.HTTPGet == nil {
				t.Errorf("%s: no HTTP probe", name)
				continue
			}
			if got := resolve(probe.HTTPGet.Port, c); got != adminPort {
				t.Errorf("%s probe on port %d, want the admin port %d", name, got, adminPort)
			}
			rec := httptest.NewRecorder()
			admin.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, probe.HTTPGet.Path, nil))
			if rec.Code == http.StatusNotFound || rec.Code == http.StatusMethodNotAllowed {
				t.Errorf("%s probe %s: %d from the admin listener", name, probe.HTTPGet.Path, rec.Code)
			}
		}
		// Readiness says draining and follows the backends; liveness
		// must not, or a backend outage would restart every gateway.
		if c.ReadinessProbe != nil && c.ReadinessProbe.HTTPGet != nil && c.ReadinessProbe.HTTPGet.Path != "/readyz" {
			t.Errorf("readiness on %s, want /readyz", c.ReadinessProbe.HTTPGet.Path)
		}
		if c.LivenessProbe != nil && c.LivenessProbe.HTTPGet != nil && c.LivenessProbe.HTTPGet.Path != "/healthz" {
			t.Errorf("liveness on %s, want /healthz", c.LivenessProbe.HTTPGet.Path)
		}
	})

	t.Run("stop", func(t *testing.T) {
		if cfg.DrainDelay <= 0 {
			t.Errorf("-drain-delay %s: behind a Service a replica must drain", cfg.DrainDelay)
		}
		var preStop time.Duration
		if l := c.Lifecycle; l != nil && l.PreStop != nil && l.PreStop.Sleep != nil {
			preStop = time.Duration(l.PreStop.Sleep.Seconds) * time.Second
		} else {
			t.Error("no preStop sleep")
		}
		need := preStop + cfg.DrainDelay + cfg.Grace
		if g := pod.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= need {
			t.Errorf("terminationGracePeriodSeconds %s, want more than preStop %s + -drain-delay %s + -grace %s",
				seconds(g), preStop, cfg.DrainDelay, cfg.Grace)
		}
		if u := d.Spec.Strategy.RollingUpdate; u == nil || u.MaxUnavailable == nil || u.MaxUnavailable.IntValue() != 0 {
			t.Error("a rolling update may take a replica away before its successor is ready: want maxUnavailable 0")
		}
	})

	t.Run("tokens", func(t *testing.T) {
		var secretName, file string
		for _, m := range c.VolumeMounts {
			if rel, ok := strings.CutPrefix(cfg.Tokens, strings.TrimSuffix(m.MountPath, "/")+"/"); ok {
				for _, v := range pod.Volumes {
					if v.Name == m.Name && v.Secret != nil {
						secretName, file = v.Secret.SecretName, rel
					}
				}
			}
		}
		s := o.secrets[secretName]
		if s == nil {
			t.Fatalf("-tokens %s is not in a mounted Secret of the manifests", cfg.Tokens)
		}
		data, ok := s.StringData[file]
		if !ok {
			t.Fatalf("Secret %s has no key %s (-tokens %s)", secretName, file, cfg.Tokens)
		}
		tmp := filepath.Join(t.TempDir(), path.Base(file))
		if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := auth.Load(tmp); err != nil {
			t.Errorf("Secret %s's %s does not load as a tokens file: %v", secretName, file, err)
		}
	})

	t.Run("redis", func(t *testing.T) {
		// The store takes the URL (it connects only on the first request).
		r, err := store.NewRedis(cfg.Redis, "")
		if err != nil {
			t.Fatalf("-redis: %v", err)
		}
		r.Close()
		u, err := url.Parse(cfg.Redis)
		if err != nil {
			t.Fatalf("-redis: %v", err)
		}
		host, p := hostPort(t, u.Host)
		svc := o.services[host]
		if svc == nil {
			t.Fatalf("-redis %s: no Service %s in the manifests", cfg.Redis, host)
		}
		if len(svc.Spec.Ports) == 0 || svc.Spec.Ports[0].Port != p {
			t.Errorf("-redis port %d, the Service %s's %v", p, host, svc.Spec.Ports)
		}
		found := false
		for _, e := range c.Env {
			if e.Name != config.RedisPasswordEnv {
				continue
			}
			found = true
			if ref := e.ValueFrom; ref == nil || ref.SecretKeyRef == nil || o.secrets[ref.SecretKeyRef.Name] == nil ||
				o.secrets[ref.SecretKeyRef.Name].StringData[ref.SecretKeyRef.Key] == "" {
				t.Errorf("%s does not come from a key of a Secret of the manifests", e.Name)
			}
		}
		if !found {
			t.Errorf("no %s: the password must not be in -redis, which the process list shows", config.RedisPasswordEnv)
		}
	})

	t.Run("availability", func(t *testing.T) {
		pdb := o.pdbs["fanout-gateway"]
		if pdb == nil || pdb.Spec.Selector == nil || !matches(pdb.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
			t.Error("no PodDisruptionBudget selecting the gateway's pods")
		}
		h := o.hpas["fanout-gateway"]
		if h == nil || h.Spec.ScaleTargetRef.Kind != "Deployment" || h.Spec.ScaleTargetRef.Name != d.Name {
			t.Fatal("no HorizontalPodAutoscaler of the gateway's Deployment")
		}
		cpu := false
		for _, m := range h.Spec.Metrics {
			cpu = cpu || (m.Resource != nil && m.Resource.Name == corev1.ResourceCPU)
		}
		if !cpu {
			t.Error("the autoscaler does not scale on CPU")
		}
		// A utilisation is a share of the request: without one, the
		// autoscaler does nothing.
		if _, ok := c.Resources.Requests[corev1.ResourceCPU]; !ok {
			t.Error("the gateway requests no CPU, so the autoscaler cannot compute its utilisation")
		}
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 || pdb != nil && pdb.Spec.MaxUnavailable != nil && int(*h.Spec.MinReplicas) <= pdb.Spec.MaxUnavailable.IntValue() {
			t.Error("the autoscaler's floor must leave a replica serving while the disruption budget takes others")
		}
	})
}

// adminHandler assembles a gateway from cfg, without listening, and
// returns its admin listener's handler.
func adminHandler(t *testing.T, cfg config.Config) http.Handler {
	t.Helper()
	// The manifests' backends and Redis are names of a cluster; here
	// they are only addresses nobody answers at, which the probes report.
	cfg.Tokens = ""
	cfg.Redis = ""
	gw, err := assembly.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return gw.Server().AdminHandler()
}

// seconds writes an optional count of seconds.
func seconds(s *int64) string {
	if s == nil {
		return "unset"
	}
	return strconv.FormatInt(*s, 10) + "s"
}

// port returns the port of a HOST:PORT.
func port(t *testing.T, addr string) int32 {
	t.Helper()
	_, p := hostPort(t, addr)
	return p
}

func hostPort(t *testing.T, addr string) (string, int32) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%q: %v", addr, err)
	}
	n, err := strconv.ParseInt(p, 10, 32)
	if err != nil {
		t.Fatalf("%q: %v", addr, err)
	}
	return h, int32(n)
}

// resolve returns the number of a port given by number or by the name of
// one of the container's ports, 0 if there is none.
func resolve(p intstr.IntOrString, c *corev1.Container) int32 {
	if p.Type == intstr.Int {
		return p.IntVal
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return cp.ContainerPort
		}
	}
	return 0
}

// matches reports whether a selector selects labels.
func matches(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return len(selector) > 0
}
