package serpi

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"

	"github.com/serfigas/brilla-gateway/backends/upstream"
)

// Page is one page of a collection as SERPI served it.
type Page[T any] struct {
	Items []T
	// Reported is the number SERPI's message states ("12 registro(s)
	// encontrados"), or -1 when the message states none.
	Reported int
}

// ErrInconsistentWalk is wrapped by the error of a walk whose pages do not
// add up to one consistent collection.
var ErrInconsistentWalk = errors.New("SERPI's pages are inconsistent")

// reportedPattern reads the count at the start of SERPI's page message:
// "1 registro(s) encontrados", "12 registros encontrados".
var reportedPattern = regexp.MustCompile(`(?i)^\s*(\d{1,9})\s+registros?\s*(?:\(s\))?\s+encontrad`)

// ReportedCount returns the number of records SERPI's message states, or
// -1 when it states none ("No se encontraron registros", other texts).
func ReportedCount(message string) int {
	m := reportedPattern.FindStringSubmatch(message)
	if m == nil {
		return -1
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		return -1
	}
	return n
}

// WalkAll fetches pages 1, 2, ... asking for pageSize records each
// (DefaultPageSize when pageSize <= 0) and returns every record in the
// order SERPI served them. It stops only when SERPI answers a page with no
// records ("No se encontraron registros"): SERPI may honour a smaller page
// size than the one asked for, so a short page proves nothing by itself.
//
// It fails with KindServer wrapping ErrInconsistentWalk, instead of
// returning part of the collection, when the pages do not add up:
//
//   - a page holds a record (by id) that an earlier page held: SERPI
//     repeated a page, ignored "pagina", or records shifted under the walk;
//   - a page has records after a page shorter than the size SERPI honoured
//     on page 1, or more records than page 1: the page size changed under
//     the walk (or records vanished), so pages no longer tile the
//     collection;
//   - SERPI's messages report a count that is neither the page's own size
//     nor the same collection total on every page, or a total other than
//     the number of records walked.
//
// Each page is a separate call, so other callers of the same token can
// take turns between pages. On error it returns nil and fetch's error
// unchanged; after MaxWalkPages pages with records it gives up with
// KindServer.
func WalkAll[T any](ctx context.Context, pageSize int, id func(T) int64, fetch func(context.Context, PageQuery) (Page[T], error)) ([]T, error) {
	if pageSize <= 0 {
		pageSize = DefaultPageSize
	}
	var all []T
	seen := map[int64]bool{}
	honoured, previous := 0, 0 // page 1's size; the last page's size
	total := -1                // collection total SERPI reported, if any
	for page := 1; page <= MaxWalkPages; page++ {
		if err := ctx.Err(); err != nil {
			return nil, &upstream.Error{Upstream: upstream.Serpi, Op: "walk pages", Kind: upstream.KindUnavailable,
				Message: "stopped walking pages: " + err.Error(), Err: err}
		}
		p, err := fetch(ctx, PageQuery{Limit: pageSize, Page: page})
		if err != nil {
			return nil, err
		}
		n := len(p.Items)
		if n == 0 {
			if total >= 0 && total != len(all) {
				return nil, inconsistent(page, fmt.Sprintf("ended after %d records, SERPI reported %d", len(all), total))
			}
			return all, nil
		}
		switch {
		case page == 1:
			honoured = n
		case previous < honoured:
			return nil, inconsistent(page, fmt.Sprintf("has records after a page of %d, short of %d", previous, honoured))
		case n > honoured:
			return nil, inconsistent(page, fmt.Sprintf("has %d records, more than the %d of page 1", n, honoured))
		}
		if p.Reported >= 0 && p.Reported != n {
			// Not the page's own count: the collection's total, which must
			// not change from page to page.
			if total >= 0 && total != p.Reported {
				return nil, inconsistent(page, fmt.Sprintf("reports %d records, an earlier page %d", p.Reported, total))
			}
			total = p.Reported
		}
		for _, item := range p.Items {
			k := id(item)
			if seen[k] {
				return nil, inconsistent(page, "repeats records of earlier pages")
			}
			seen[k] = true
		}
		all = append(all, p.Items...)
		previous = n
	}
	return nil, &upstream.Error{Upstream: upstream.Serpi, Op: "walk pages", Kind: upstream.KindServer,
		Message: fmt.Sprintf("SERPI still returned records after %d pages", MaxWalkPages)}
}

// inconsistent is the error of a walk whose page number page does not fit
// the pages before it.
func inconsistent(page int, what string) error {
	return &upstream.Error{Upstream: upstream.Serpi, Op: "walk pages", Kind: upstream.KindServer,
		Message: fmt.Sprintf("the collection changed or was paged inconsistently while it was read (page %d %s); "+
			"nothing was served from this read", page, what),
		Err: ErrInconsistentWalk}
}
