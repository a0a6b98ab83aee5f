package views

import "context"

// AssetURL gives the URL of a file under /static/ by its logical name, its path there before any hashing
// ("dist/editor.js", "js/htmx.min.js"): a URL that names the content, so browsers may keep the file for good.
// Handlers put theirs in the rendering context with WithAssetURL.
type AssetURL func(name string) string

type assetURLKey struct{}

// WithAssetURL returns ctx carrying url for the components rendered with it.
func WithAssetURL(ctx context.Context, url AssetURL) context.Context {
	return context.WithValue(ctx, assetURLKey{}, url)
}

// asset is the URL of the named file under /static/; its plain path for a component rendered without an AssetURL.
func asset(ctx context.Context, name string) string {
	if url, ok := ctx.Value(assetURLKey{}).(AssetURL); ok {
		return url(name)
	}
	return "/static/" + name
}
