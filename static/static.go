// Package static embeds the browser assets: htmx and the page scripts in js/, the API docs' assets, and in dist/
// what `make assets` builds from editor/: the Tailwind stylesheet and the canvas bundle.
package static

import "embed"

// FS holds every asset served under /static/.
//
//go:embed css js dist
var FS embed.FS
