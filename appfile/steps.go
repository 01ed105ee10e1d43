package appfile

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Workflow-step types. Carina runs deploy, suspend, step-group,
// depends-on-app, notify, wait-healthy and promote natively; KubeVela's notification
// and webhook steps are mapped onto notify when the application is read.
const (
	SuspendStep      = "suspend"
	DependsOnAppStep = "depends-on-app"
	NotifyStep       = "notify"
	WaitHealthyStep  = "wait-healthy"
	PromoteStep      = "promote"
	NotificationStep = "notification"
	WebhookStep      = "webhook"
)

// nativeSteps are the step types the workflow engine runs.
var nativeSteps = []string{DeployStep, SuspendStep, StepGroupStep, DependsOnAppStep, NotifyStep, WaitHealthyStep, PromoteStep}

func isNativeStep(t string) bool {
	for _, n := range nativeSteps {
		if n == t {
			return true
		}
	}
	return false
}

// mapSteps rewrites KubeVela's notification and webhook steps into notify
// steps, in place, and reports a step of any other type Carina does not
// run, naming the step and its type.
func mapSteps(steps []WorkflowStep, errs *ErrorList) {
	for i := range steps {
		s := &steps[i]
		switch s.Type {
		case NotificationStep:
			mapNotification(s, errs)
		case WebhookStep:
			mapWebhook(s, errs)
		case "":
		default:
			if !isNativeStep(s.Type) {
				errs.add(s.Pos, "step %q: type %q is not supported; Carina runs %s, and KubeVela's %s and %s (as notify)",
					s.Name, s.Type, strings.Join(nativeSteps, ", "), NotificationStep, WebhookStep)
			}
		}
		mapSteps(s.SubSteps, errs)
	}
}

// mapNotification maps KubeVela's notification step (slack, dingding,
// lark or msteams with url.value) onto notify.
func mapNotification(s *WorkflowStep, errs *ErrorList) {
	for _, channel := range []string{"slack", "dingding", "lark", "msteams"} {
		c, ok := s.Properties[channel].(map[string]any)
		if !ok {
			continue
		}
		url, err := urlValue(c["url"])
		if err != nil {
			errs.add(s.Pos, "step %q (notification): %s.url %v", s.Name, channel, err)
			return
		}
		s.Type, s.Properties = NotifyStep, map[string]any{"url": url, "message": messageText(c["message"])}
		return
	}
	errs.add(s.Pos, "step %q (notification): give slack, dingding, lark or msteams with url.value (email is not supported)", s.Name)
}

// mapWebhook maps KubeVela's webhook step onto notify; its data becomes
// the message, as JSON.
func mapWebhook(s *WorkflowStep, errs *ErrorList) {
	url, err := urlValue(s.Properties["url"])
	if err != nil {
		errs.add(s.Pos, "step %q (webhook): url %v", s.Name, err)
		return
	}
	props := map[string]any{"url": url}
	if data, ok := s.Properties["data"]; ok {
		b, err := json.Marshal(data)
		if err != nil {
			errs.add(s.Pos, "step %q (webhook): data: %v", s.Name, err)
			return
		}
		props["message"] = string(b)
	}
	s.Type, s.Properties = NotifyStep, props
}

// urlValue reads KubeVela's {value: URL}; a secretRef is refused, because a
// URL that holds a credential is read from the cluster, which Carina's
// workflow does not.
func urlValue(v any) (string, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return "", fmt.Errorf("must be {value: URL}")
	}
	if _, ok := m["secretRef"]; ok {
		return "", fmt.Errorf("secretRef is not supported; give url.value")
	}
	s, ok := m["value"].(string)
	if !ok || s == "" {
		return "", fmt.Errorf("must be {value: URL}")
	}
	return s, nil
}

// messageText reads a notification message: a string, or KubeVela's
// {text: ...} / {content: ...} / {title, text}.
func messageText(v any) string {
	switch m := v.(type) {
	case string:
		return m
	case map[string]any:
		for _, k := range []string{"text", "content", "title"} {
			if s, ok := m[k].(string); ok && s != "" {
				return s
			}
		}
		if b, err := json.Marshal(m); err == nil {
			return string(b)
		}
	}
	return ""
}
