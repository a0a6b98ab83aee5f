package handlers

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/concertmaster/concertmaster/platform/storage"
	"github.com/concertmaster/concertmaster/sql/store"
)

const payloadFlow = `{"nodes":[
 {"id":"hook","type":"trigger.webhook","config":{}},
 {"id":"shape","type":"transform.data","config":{"jq":"{total: .body.total, text: (.body.text + .body.text)}"}},
 {"id":"big","type":"condition.if","config":{"condition":"input.total > 100 && len(input.text) == 6000"}}],
 "edges":[{"from":"hook","to":"shape"},{"from":"shape","to":"big"}]}`

// TestLargePayloads runs a workflow on a trigger larger than PAYLOAD_INLINE_LIMIT through real workers: the
// nodes see the whole data, the API shows references with sizes, the full value is served to the organization
// only, and a node whose output passes NODE_OUTPUT_MAX fails naming the node and the limit.
func TestLargePayloads(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.executor.MaxOutputBytes = 64 << 10
	h.st.UsePayloads(h.srv.deps.Files, 1024)
	h.startWorkers()
	w := h.newWorld()
	member := h.accessToken(w.users["member"], w.orgA.ID)
	outsider := h.accessToken(w.users["outsider"], w.orgB.ID)

	text := strings.Repeat("z", 3000)
	wfID, execID := h.runPayloadFlow(t, member, text)

	var detail struct {
		Trigger struct {
			Payload *store.PayloadRef `json:"$payload"`
		} `json:"trigger"`
		Nodes []struct {
			NodeID string `json:"node_id"`
			Port   string `json:"port"`
			Output struct {
				Payload *store.PayloadRef `json:"$payload"`
			} `json:"output"`
		} `json:"nodes"`
	}
	h.do(request{Method: "GET", Path: "/api/v1/executions/" + execID, Bearer: member}).json(t, &detail)
	ref := detail.Trigger.Payload
	if ref == nil || ref.Size < 3000 || !strings.HasPrefix(ref.Preview, "{") || len(ref.Preview) > 1024 {
		t.Fatalf("trigger not shown as a reference with its size: %+v", detail.Trigger)
	}
	outputs := map[string]*store.PayloadRef{}
	for _, n := range detail.Nodes {
		outputs[n.NodeID] = n.Output.Payload
	}
	// The condition saw the whole text (its length is part of it, and it took the true port to succeed); each
	// node's output, being large, is a reference too.
	if outputs["hook"] == nil || outputs["shape"] == nil || outputs["shape"].Size < 6000 || outputs["big"] == nil {
		t.Errorf("node outputs: %+v", outputs)
	}

	path := "/api/v1/executions/" + execID + "/payloads/" + ref.Key
	resp := h.do(request{Method: "GET", Path: path, Bearer: member})
	if resp.StatusCode != http.StatusOK || int64(len(resp.body)) != ref.Size || !strings.Contains(resp.body, text) {
		t.Fatalf("full fetch: %d, %d bytes", resp.StatusCode, len(resp.body))
	}
	if resp := h.do(request{Method: "GET", Path: path, Bearer: outsider}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("another organization read the payload: %d", resp.StatusCode)
	}
	if resp := h.do(request{Method: "GET", Path: "/api/v1/executions/" + execID + "/payloads/" + storage.NewKey(), Bearer: member}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("an unknown key: %d", resp.StatusCode)
	}
	// The page shows sizes and previews, cut, with links to the whole.
	doc := h.do(request{Method: "GET", Path: "/executions/" + execID,
		Cookie: h.sessionCookie(w.users["member"], w.orgA.ID)}).doc(t)
	links := doc.Find(`.payload a[href^="/executions/` + execID + `/payloads/"]`)
	if links.Length() < 4 || !strings.Contains(doc.Find(".payload").First().Text(), "KB") {
		t.Errorf("%d load-full links; first preview %q", links.Length(), doc.Find(".payload").First().Text())
	}
	if strings.Contains(doc.Text(), strings.Repeat("z", 1100)) {
		t.Error("the page shows a large value whole")
	}
	trigger := doc.Find("section").FilterFunction(func(_ int, s *goquery.Selection) bool {
		return s.ChildrenFiltered("h2").Text() == "Trigger data"
	})
	if href, _ := trigger.Find(".payload a").Attr("href"); !strings.HasSuffix(href, ref.Key) {
		t.Errorf("the trigger's link %q is not to its payload", href)
	}
	page := h.do(request{Method: "GET", Path: "/executions/" + execID + "/payloads/" + ref.Key,
		Cookie: h.sessionCookie(w.users["member"], w.orgA.ID)})
	if page.StatusCode != http.StatusOK || int64(len(page.body)) != ref.Size {
		t.Errorf("the page's load-full link: %d, %d bytes", page.StatusCode, len(page.body))
	}
	if resp := h.do(request{Method: "GET", Path: "/executions/" + execID + "/payloads/" + ref.Key,
		Cookie: h.sessionCookie(w.users["outsider"], w.orgB.ID)}); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the page link for another organization: %d", resp.StatusCode)
	}

	// A large signed webhook call goes through the group-commit ingest: offloaded there, whole for the workers.
	info, _ := h.hookWorkflow(w, `{}`)
	hookBody := []byte(`{"total":250,"note":"` + strings.Repeat("w", 5000) + `"}`)
	status, out := post(t, info.URL, hookBody, signed(info.Secret, time.Now(), hookBody))
	if status != http.StatusAccepted {
		t.Fatalf("webhook: %d %s", status, out)
	}
	var hooked struct {
		ExecutionID string `json:"execution_id"`
	}
	_ = json.Unmarshal([]byte(out), &hooked)
	h.waitExecution(member, hooked.ExecutionID, "succeeded")
	h.do(request{Method: "GET", Path: "/api/v1/executions/" + hooked.ExecutionID, Bearer: member}).json(t, &detail)
	if ref := detail.Trigger.Payload; ref == nil || ref.Size < 5000 {
		t.Errorf("the webhook's trigger data is not a reference: %+v", detail.Trigger)
	} else if resp := h.do(request{Method: "GET", Path: "/api/v1/executions/" + hooked.ExecutionID + "/payloads/" + ref.Key,
		Bearer: member}); !strings.Contains(resp.body, strings.Repeat("w", 5000)) {
		t.Errorf("the webhook's full trigger data: %d, %d bytes", resp.StatusCode, len(resp.body))
	}

	// An output past NODE_OUTPUT_MAX (64 KiB here: the shape doubles a 40 KiB text) fails its node, naming it and
	// the limit.
	resp = h.do(request{Method: "POST", Path: "/api/v1/workflows/" + wfID + "/run", Bearer: member,
		JSON: `{"total":250,"text":"` + strings.Repeat("y", 40<<10) + `"}`})
	var run struct {
		ExecutionID string `json:"execution_id"`
	}
	resp.json(t, &run)
	failed := h.waitExecution(member, run.ExecutionID, "failed")
	if !strings.Contains(failed.Error, `node "shape"`) || !strings.Contains(failed.Error, "NODE_OUTPUT_MAX") {
		t.Errorf("failed execution's error %q does not name the node and NODE_OUTPUT_MAX", failed.Error)
	}
}

// runPayloadFlow saves payloadFlow through the API and runs it on {"total":250,"text":text} until it succeeds.
func (h *harness) runPayloadFlow(t *testing.T, token, text string) (workflowID, executionID string) {
	t.Helper()
	resp := h.do(request{Method: "POST", Path: "/api/v1/workflows", Bearer: token, JSON: `{"name":"Big","definition":` + payloadFlow + `}`})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, resp.body)
	}
	var wf struct {
		ID string `json:"id"`
	}
	resp.json(t, &wf)
	resp = h.do(request{Method: "POST", Path: "/api/v1/workflows/" + wf.ID + "/run", Bearer: token,
		JSON: `{"total":250,"text":"` + text + `"}`})
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("run: %d %s", resp.StatusCode, resp.body)
	}
	var run struct {
		ExecutionID string `json:"execution_id"`
	}
	resp.json(t, &run)
	h.waitExecution(token, run.ExecutionID, "succeeded")
	return wf.ID, run.ExecutionID
}
