// Package static embeds the browser assets: stylesheets, scripts and the built editor bundle in dist/.
package static

import "embed"

// FS holds every asset served under /static/.
//
//go:embed css js
var FS embed.FS
