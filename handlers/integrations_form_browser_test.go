package handlers

import "testing"

// TestCredentialsFormAsksOnlyForTheChosenAuthentication: the HTTP credentials form shows the settings of the
// authentication mode picked and hides the others' as the choice changes, after htmx redrew the form for the kind.
func TestCredentialsFormAsksOnlyForTheChosenAuthentication(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	w := h.newWorld()
	b := h.newBrowser(t)
	b.signIn(w.users["owner"], w.orgA.ID)
	b.setViewport(1440, 900)
	b.open("/integrations?kind=smtp")
	b.waitFor(`input[name="settings.from"]`)
	// Choosing the kind redraws the settings through htmx, as a person would get them.
	b.eval(`() => { const k = document.getElementById("kind"); k.value = "http"; k.dispatchEvent(new Event("change", {bubbles: true})); }`)
	b.waitFor(`select[name="settings.auth"]`)

	visible := func(name string) string {
		return `() => { const f = document.querySelector('[name="settings.` + name + `"]').closest(".field"); return f.offsetParent !== null; }`
	}
	hidden := func(name string) string {
		return `() => { const f = document.querySelector('[name="settings.` + name + `"]').closest(".field"); return f.offsetParent === null; }`
	}
	choose := func(auth string) {
		b.eval(`() => { const a = document.querySelector('select[name="settings.auth"]'); a.value = "` + auth + `"; a.dispatchEvent(new Event("change", {bubbles: true})); }`)
	}
	for _, name := range []string{"username", "password", "token", "api_key", "hmac_secret"} {
		b.waitUntil(hidden(name))
	}
	b.waitUntil(visible("base_url"))
	b.waitUntil(visible("test_url"))

	choose("basic")
	b.waitUntil(visible("username"))
	b.waitUntil(visible("password"))
	b.waitUntil(hidden("token"))

	choose("hmac")
	for _, name := range []string{"hmac_secret", "hmac_header", "hmac_prefix", "hmac_timestamp_header"} {
		b.waitUntil(visible(name))
	}
	b.waitUntil(hidden("username"))
	b.assertLabelled()
	b.assertClean()
}
