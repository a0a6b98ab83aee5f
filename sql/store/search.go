package store

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/concertmaster/concertmaster/platform/fault"
)

// Search boxes: what a person types reaches PostgreSQL's search_tsquery (migration 0016) in two forms. The words
// go to websearch_to_tsquery as typed, which accepts any text without an error ("quoted phrases", or, -not). When
// they are plain words, a prefix query is added, built here from letters and digits only (so to_tsquery's own
// syntax can never be hit), whose last word matches anything it begins: a search box finds "Orders" at "ord".

// MaxSearchLength is the longest search, in characters, a list accepts: enough for any name, small enough that
// a search never costs more than a page load.
const MaxSearchLength = 200

// maxPrefixWords bounds the prefix query's size; longer searches still match through the websearch words.
const maxPrefixWords = 16

// errSearchHasOnePage refuses a cursor on a search: results are ranked, and a ranking has no stable keyset to page
// on, so a search returns its best page and a person narrows it with more words.
var errSearchHasOnePage = fault.Fields("bad filters", fault.FieldError{Field: "cursor",
	Message: "a search returns one page of the best matches; add words to narrow it"})

// searchTerms is a validated search: Words for websearch_to_tsquery and Prefix for to_tsquery (nil when the
// words use websearch operators or hold no letter or digit).
type searchTerms struct {
	Words  string
	Prefix *string
}

// parseSearch validates a search box's text (named field in errors) and derives the prefix query.
func parseSearch(field, text string) (searchTerms, error) {
	text = strings.TrimSpace(text)
	if !utf8.ValidString(text) || strings.ContainsRune(text, 0) {
		return searchTerms{}, fault.Fields("bad search", fault.FieldError{Field: field, Message: "is not valid text"})
	}
	if utf8.RuneCountInString(text) > MaxSearchLength {
		return searchTerms{}, fault.Fields("bad search", fault.FieldError{Field: field,
			Message: "must be at most 200 characters"})
	}
	t := searchTerms{Words: text}
	if usesWebsearchOperators(text) {
		return t, nil
	}
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r)
	})
	if len(words) == 0 {
		return t, nil
	}
	if len(words) > maxPrefixWords {
		words = words[len(words)-maxPrefixWords:]
	}
	prefix := strings.Join(words, " & ") + ":*"
	t.Prefix = &prefix
	return t, nil
}

// usesWebsearchOperators reports whether text means more than plain words to websearch_to_tsquery: a quote, a
// word negated with "-", or an "or" between words. Such a search is taken exactly as written.
func usesWebsearchOperators(text string) bool {
	if strings.ContainsRune(text, '"') {
		return true
	}
	for _, w := range strings.Fields(text) {
		if strings.HasPrefix(w, "-") || strings.EqualFold(w, "or") {
			return true
		}
	}
	return false
}
