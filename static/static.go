// Package static embeds the browser assets: htmx and the page scripts in js/, the API docs' assets, and in dist/
// what `make assets` builds from editor/: the Tailwind stylesheet and the canvas bundle under content-hashed
// names, the Vite manifest that maps their entry names to those files, and a .gz and a .br of each.
package static

import "embed"

// FS holds every asset served under /static/.
//
//go:embed css js dist
var FS embed.FS
