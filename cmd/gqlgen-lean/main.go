// Command gqlgen-lean is the project's `go generate` step for package graph:
// it runs gqlgen's code generation exactly as `go tool gqlgen generate`
// does, then makes the generated executor marshal the elements of a list
// in the calling goroutine when nothing below the element's type can
// block.
//
// gqlgen marshals every list of objects with graphql.MarshalSliceConcurrently,
// one goroutine per element, whatever the element holds; its only knob,
// exec.worker_limit, bounds those goroutines but still starts one per
// element. For a page of 50 taxes that is 50 goroutines, each growing its
// stack, to copy struct fields: about 40% of the CPU of an uncached read
// (BENCHMARKS.md, issue 10). The goroutines only pay off when an element's
// fields wait on something (a resolver, a dataloader batch, a method taking
// a context), so that the elements wait together. A type "can block" when
// one of its fields is resolved concurrently by gqlgen (a resolver or a
// method with a context) or leads, through any field, list, interface or
// union, to a type that can. Lists of any other type get graph's
// marshalSliceInline instead, which keeps MarshalSliceConcurrently's
// contract (per-element field context with its index, panics turned into
// errors and a null list) without the goroutines.
//
// Run from package graph (graph/generate.go): go run ../cmd/gqlgen-lean
package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/99designs/gqlgen/api"
	"github.com/99designs/gqlgen/codegen"
	"github.com/99designs/gqlgen/codegen/config"
	"github.com/vektah/gqlparser/v2/ast"
)

// concurrentCall is what gqlgen writes for every list of objects, and
// inlineCall what replaces it (same arguments; see graph/lists.go).
const (
	concurrentCall = "graphql.MarshalSliceConcurrently("
	inlineCall     = "marshalSliceInline("
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("gqlgen-lean: ")
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	cfg, err := config.LoadConfigFromDefaultLocations()
	if errors.Is(err, fs.ErrNotExist) {
		cfg, err = config.LoadDefaultConfig()
	}
	if err != nil {
		return err
	}
	// gqlgen's own command discards its log output unless -v.
	log.SetOutput(io.Discard)
	lists := &inlineLists{}
	err = api.Generate(cfg, api.AddPlugin(lists))
	log.SetOutput(os.Stderr)
	if err != nil {
		return err
	}
	return lists.rewrite(cfg.Exec.Dir())
}

// inlineLists is a gqlgen plugin that records, while gqlgen builds its
// data, the marshal functions of lists whose elements cannot block.
type inlineLists struct {
	funcs []string
}

// Name implements plugin.Plugin.
func (*inlineLists) Name() string { return "inline-lists" }

// GenerateCode implements plugin.CodeGenerator; it runs before gqlgen
// writes the executor and only reads data.
func (p *inlineLists) GenerateCode(data *codegen.Data) error {
	blocking := blockingTypes(data)
	for _, ref := range data.ReferencedTypes {
		if !ref.IsSlice() || ref.Definition == nil || ref.Elem().IsSlice() {
			continue
		}
		switch ref.Definition.Kind {
		case ast.Object, ast.Interface, ast.Union:
		default:
			continue // scalars and enums are marshalled in a plain loop already
		}
		if !blocking[ref.Definition.Name] {
			p.funcs = append(p.funcs, ref.MarshalFunc())
		}
	}
	slices.Sort(p.funcs)
	p.funcs = slices.Compact(p.funcs)
	return nil
}

// blockingTypes returns the names of the object, interface and union types
// whose marshalling can wait on something: those with a field gqlgen
// resolves concurrently, and, to a fixed point, those that reach one
// through a field or a possible type. Types gqlgen built no object for are
// counted as blocking, to stay on the safe side.
func blockingTypes(data *codegen.Data) map[string]bool {
	blocking := map[string]bool{}
	composite := func(def *ast.Definition) bool {
		return def != nil && (def.Kind == ast.Object || def.Kind == ast.Interface || def.Kind == ast.Union)
	}
	for _, def := range data.Schema.Types {
		if def.Kind != ast.Object {
			continue
		}
		obj := data.Objects.ByName(def.Name)
		if obj == nil || obj.IsConcurrent() {
			blocking[def.Name] = true
		}
	}
	for changed := true; changed; {
		changed = false
		for name, def := range data.Schema.Types {
			if blocking[name] || !composite(def) {
				continue
			}
			var reaches []string
			switch def.Kind {
			case ast.Object:
				for _, f := range def.Fields {
					if t := data.Schema.Types[f.Type.Name()]; composite(t) {
						reaches = append(reaches, t.Name)
					}
				}
			default:
				for _, t := range data.Schema.GetPossibleTypes(def) {
					reaches = append(reaches, t.Name)
				}
			}
			for _, r := range reaches {
				if blocking[r] {
					blocking[name], changed = true, true
					break
				}
			}
		}
	}
	return blocking
}

// rewrite swaps the concurrent call for the inline one inside each
// recorded marshal function of the generated files in dir; every recorded
// function must be found exactly once, with exactly one call.
func (p *inlineLists) rewrite(dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.generated.go"))
	if err != nil {
		return err
	}
	found := map[string]int{}
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		out, n, err := p.rewriteSource(string(src), found)
		if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		if n == 0 {
			continue
		}
		if err := os.WriteFile(file, []byte(out), 0o644); err != nil {
			return err
		}
	}
	for _, fn := range p.funcs {
		if found[fn] != 1 {
			return fmt.Errorf("marshal function %s found %d times in %s, want once", fn, found[fn], dir)
		}
	}
	return nil
}

func (p *inlineLists) rewriteSource(src string, found map[string]int) (string, int, error) {
	var b strings.Builder
	rewritten := 0
	for len(src) > 0 {
		// Split at each top-level function.
		next := strings.Index(src[1:], "\nfunc ")
		chunk := src
		if next >= 0 {
			chunk = src[:next+1]
		}
		src = src[len(chunk):]
		for _, fn := range p.funcs {
			if !strings.HasPrefix(chunk, "\nfunc (ec *executionContext) "+fn+"(") {
				continue
			}
			found[fn]++
			if strings.Count(chunk, concurrentCall) != 1 {
				return "", 0, fmt.Errorf("%s: want one %s call, found %d", fn, concurrentCall, strings.Count(chunk, concurrentCall))
			}
			chunk = strings.Replace(chunk, concurrentCall, inlineCall, 1)
			rewritten++
		}
		b.WriteString(chunk)
	}
	return b.String(), rewritten, nil
}
