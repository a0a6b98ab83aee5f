// Package helm holds the test of deploy/helm/concertmaster: the chart as `helm template` renders it (helm pinned by
// version, deploy/dev/ops-env.sh), each object decoded strictly into its Kubernetes type.
package helm

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"

	"github.com/concertmaster/concertmaster/sql/store"
)

const chart = "concertmaster"

var required = []string{"--set", "secrets.databaseURL=postgres://cm@db:5432/cm", "--set", "secrets.secretKey=" + strings.Repeat("k", 40)}

func helmBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("TEST_HELM"); p != "" {
		return p
	}
	t.Fatal("TEST_HELM is not set: make test builds helm once with deploy/dev/ops-env.sh (eval \"$(deploy/dev/ops-env.sh)\")")
	return ""
}

func template(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(helmBin(t), append([]string{"template", "rel", chart}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%v: %s", err, stderr.String())
	}
	return string(out), nil
}

// rendered are the chart's objects, each decoded strictly (an unknown field fails) into its k8s.io/api type.
type rendered struct {
	deployments map[string]*appsv1.Deployment
	services    []*corev1.Service
	secrets     []*corev1.Secret
	jobs        []*batchv1.Job
	ingresses   []*networkingv1.Ingress
	pdbs        []*policyv1.PodDisruptionBudget
	hpas        []*autoscalingv2.HorizontalPodAutoscaler
}

func decode(t *testing.T, manifest string) *rendered {
	t.Helper()
	r := &rendered{deployments: map[string]*appsv1.Deployment{}}
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(manifest, -1) {
		var head struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("%v in\n%s", err, doc)
		}
		var obj any
		switch head.Kind {
		case "":
			continue
		case "Deployment":
			d := &appsv1.Deployment{}
			obj = d
			defer func() { r.deployments[d.Spec.Template.Labels["app.kubernetes.io/component"]] = d }()
		case "Service":
			obj = appendNew(&r.services)
		case "Secret":
			obj = appendNew(&r.secrets)
		case "Job":
			obj = appendNew(&r.jobs)
		case "Ingress":
			obj = appendNew(&r.ingresses)
		case "PodDisruptionBudget":
			obj = appendNew(&r.pdbs)
		case "HorizontalPodAutoscaler":
			obj = appendNew(&r.hpas)
		default:
			t.Fatalf("the chart renders a %s, which the test does not know", head.Kind)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			t.Errorf("%s does not decode strictly: %v\n%s", head.Kind, err, doc)
		}
	}
	return r
}

func appendNew[T any](list *[]*T) *T {
	v := new(T)
	*list = append(*list, v)
	return v
}

// queueDepthMetric is the name the app exports the ready-job count under (store.QueueCollector).
func queueDepthMetric(t *testing.T) string {
	t.Helper()
	ch := make(chan *prometheus.Desc, 8)
	store.NewQueueCollector(nil).Describe(ch)
	close(ch)
	for d := range ch {
		if m := regexp.MustCompile(`fqName: "([^"]+)"`).FindStringSubmatch(d.String()); m != nil && strings.Contains(m[1], "available") {
			return m[1]
		}
	}
	t.Fatal("the queue collector describes no available-jobs metric")
	return ""
}

// TestChartRendersValidObjects renders the chart with its defaults and checks every object against its type and
// against what the README promises: web and worker Deployments with probes and resource requests, the migrate
// Job as a pre-upgrade hook, PodDisruptionBudgets, and a worker autoscaler on the queue-depth metric the app exports.
func TestChartRendersValidObjects(t *testing.T) {
	t.Parallel()
	out, err := template(t, required...)
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	r := decode(t, out)
	if len(r.deployments) != 2 || len(r.services) != 1 || len(r.secrets) != 1 || len(r.jobs) != 1 ||
		len(r.ingresses) != 1 || len(r.pdbs) != 2 || len(r.hpas) != 1 {
		t.Fatalf("rendered %d deployments, %d services, %d secrets, %d jobs, %d ingresses, %d PDBs, %d HPAs",
			len(r.deployments), len(r.services), len(r.secrets), len(r.jobs), len(r.ingresses), len(r.pdbs), len(r.hpas))
	}
	web, worker := r.deployments["web"], r.deployments["worker"]
	if web == nil || worker == nil {
		t.Fatalf("no web or worker Deployment: %v", r.deployments)
	}
	wc := web.Spec.Template.Spec.Containers[0]
	if strings.Join(wc.Args, " ") != "serve --no-workers" || wc.ReadinessProbe.HTTPGet.Path != "/readyz" ||
		wc.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("web container: args %v, readiness %s, liveness %s", wc.Args, wc.ReadinessProbe.HTTPGet.Path, wc.LivenessProbe.HTTPGet.Path)
	}
	kc := worker.Spec.Template.Spec.Containers[0]
	if strings.Join(kc.Args, " ") != "worker" || kc.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("worker container: args %v", kc.Args)
	}
	for _, c := range []corev1.Container{wc, kc, r.jobs[0].Spec.Template.Spec.Containers[0]} {
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
			t.Errorf("container %s has no CPU or memory request", c.Name)
		}
	}
	if hook := r.jobs[0].Annotations["helm.sh/hook"]; !strings.Contains(hook, "pre-upgrade") || strings.Join(r.jobs[0].Spec.Template.Spec.Containers[0].Args, " ") != "migrate" {
		t.Errorf("migrate job: hook %q", hook)
	}
	secretWeight, _ := strconv.Atoi(r.secrets[0].Annotations["helm.sh/hook-weight"])
	jobWeight, _ := strconv.Atoi(r.jobs[0].Annotations["helm.sh/hook-weight"])
	if !strings.Contains(r.secrets[0].Annotations["helm.sh/hook"], "pre-install") || secretWeight >= jobWeight {
		t.Error("the Secret is not created before the migrate hook runs")
	}
	hpa := r.hpas[0]
	if hpa.Spec.ScaleTargetRef.Name != worker.Name || len(hpa.Spec.Metrics) != 1 || hpa.Spec.Metrics[0].External == nil {
		t.Fatalf("the autoscaler does not scale the worker Deployment on an external metric: %+v", hpa.Spec)
	}
	if got, want := hpa.Spec.Metrics[0].External.Metric.Name, queueDepthMetric(t); got != want {
		t.Errorf("the autoscaler scales on %q; the app exports the queue depth as %q", got, want)
	}
	if worker.Spec.Replicas != nil {
		t.Error("the worker Deployment fixes its replicas although the autoscaler owns them")
	}
	if r.ingresses[0].Annotations["nginx.ingress.kubernetes.io/proxy-buffering"] != "off" {
		t.Error("the ingress buffers responses: server-sent events would stall")
	}
}

// TestChartValuesAndSecrets: without secrets the chart refuses to render and names them; with existingSecret it
// makes no Secret of its own; every top-level value is in the README's table.
func TestChartValuesAndSecrets(t *testing.T) {
	t.Parallel()
	if _, err := template(t); err == nil || !strings.Contains(err.Error(), "secrets.secretKey") {
		t.Errorf("rendering without secrets: %v, want an error naming secrets.secretKey", err)
	}
	out, err := template(t, "--set", "existingSecret=mine", "--set", "worker.autoscaling.enabled=false")
	if err != nil {
		t.Fatal(err)
	}
	r := decode(t, out)
	if len(r.secrets) != 0 || len(r.hpas) != 0 || r.deployments["worker"].Spec.Replicas == nil {
		t.Errorf("with existingSecret and no autoscaler: %d secrets, %d HPAs", len(r.secrets), len(r.hpas))
	}
	if ref := r.deployments["web"].Spec.Template.Spec.Containers[0].Env; !strings.Contains(fmt.Sprint(ref), "mine") {
		t.Error("the web pods do not read existingSecret")
	}
	values, _ := os.ReadFile("concertmaster/values.yaml")
	readme, _ := os.ReadFile("../../README.md")
	_, table, _ := strings.Cut(string(readme), "<!-- helm:values -->")
	table, _, _ = strings.Cut(table, "<!-- /helm:values -->")
	for _, m := range regexp.MustCompile(`(?m)^([a-zA-Z]+):`).FindAllStringSubmatch(string(values), -1) {
		if !strings.Contains(table, "`"+m[1]) {
			t.Errorf("README, Kubernetes, does not document the value %s", m[1])
		}
	}
}
