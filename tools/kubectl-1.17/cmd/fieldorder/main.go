// Command fieldorder prints the Rust table that crates/rollout-engine's Go JSON
// encoder (src/go_json.rs) walks: every Go struct reachable from
// k8s.io/api/core/v1.ReplicationController, with its fields in the order
// encoding/json writes them (declaration order, embedded structs flattened in
// place), their JSON names, their omitempty/omitzero options and their types.
//
// Usage, from the repository root:
//
//	(cd tools/kubectl-1.17 && go run ./cmd/fieldorder) > crates/rollout-engine/src/model/go_json/types.rs
package main

import (
	"encoding"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"runtime/debug"
	"strings"
	"unicode"

	corev1 "k8s.io/api/core/v1"
)

// leaves are the types with their own MarshalJSON, by Go name: the Rust
// encoder knows each of them as one Ty variant.
var leaves = map[string]string{
	"k8s.io/apimachinery/pkg/apis/meta/v1.Time":       "Time",
	"k8s.io/apimachinery/pkg/apis/meta/v1.FieldsV1":   "RawJson",
	"k8s.io/apimachinery/pkg/api/resource.Quantity":   "Quantity",
	"k8s.io/apimachinery/pkg/util/intstr.IntOrString": "IntOrString",
}

var (
	marshaler     = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

type field struct {
	name                string
	omitEmpty, omitZero bool
	typ                 reflect.Type
}

type gen struct {
	names map[reflect.Type]string
	taken map[string]reflect.Type
	queue []reflect.Type
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "fieldorder: "+format+"\n", args...)
	os.Exit(1)
}

func goName(t reflect.Type) string { return t.PkgPath() + "." + t.Name() }

// rustName is the Go type name in SCREAMING_SNAKE_CASE.
func rustName(name string) string {
	var b strings.Builder
	runes := []rune(name)
	for i, r := range runes {
		if i > 0 && unicode.IsUpper(r) &&
			(unicode.IsLower(runes[i-1]) || unicode.IsDigit(runes[i-1]) ||
				(i+1 < len(runes) && unicode.IsLower(runes[i+1]))) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

func (g *gen) structName(t reflect.Type) string {
	if n, ok := g.names[t]; ok {
		return n
	}
	n := rustName(t.Name())
	if other, ok := g.taken[n]; ok {
		fail("two Go types named %s: %s and %s", n, goName(other), goName(t))
	}
	g.names[t] = n
	g.taken[n] = t
	g.queue = append(g.queue, t)
	return n
}

// ty is the Rust expression for the Ty of Go type t.
func (g *gen) ty(t reflect.Type) string {
	if t.Kind() == reflect.Pointer {
		return "&Ty::Ptr(" + g.ty(t.Elem()) + ")"
	}
	if leaf, ok := leaves[goName(t)]; ok {
		return "&Ty::" + leaf
	}
	if t.Implements(marshaler) || reflect.PointerTo(t).Implements(marshaler) ||
		t.Implements(textMarshaler) || reflect.PointerTo(t).Implements(textMarshaler) {
		fail("%s has its own JSON encoding: add it to leaves and to the Rust Ty", goName(t))
	}
	switch t.Kind() {
	case reflect.String:
		return "&Ty::String"
	case reflect.Bool:
		return "&Ty::Bool"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "&Ty::Int"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			fail("[]byte (base64) is not supported: %s", t)
		}
		return "&Ty::Slice(" + g.ty(t.Elem()) + ")"
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			fail("map key %s is not a string", t.Key())
		}
		return "&Ty::Map(" + g.ty(t.Elem()) + ")"
	case reflect.Struct:
		return "&Ty::Struct(" + g.structName(t) + ")"
	default:
		fail("unsupported kind %s (%s)", t.Kind(), t)
	}
	return ""
}

// fields lists t's JSON fields in encoding/json's order: declaration order,
// the fields of embedded structs without a JSON name promoted in place.
func fields(t reflect.Type) []field {
	var out []field
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			if f.Type.Kind() != reflect.Struct {
				fail("embedded %s in %s is not a struct", f.Type, goName(t))
			}
			out = append(out, fields(f.Type)...)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fi := field{name: name, typ: f.Type}
		for _, o := range strings.Split(opts, ",") {
			switch o {
			case "omitempty":
				fi.omitEmpty = true
			case "omitzero":
				fi.omitZero = true
			case "", "inline":
			default:
				fail("json option %q on %s.%s is not supported", o, goName(t), f.Name)
			}
		}
		out = append(out, fi)
	}
	seen := map[string]bool{}
	for _, f := range out {
		if seen[f.name] {
			fail("%s has two fields named %q", goName(t), f.name)
		}
		seen[f.name] = true
	}
	return out
}

func version(path string) string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, d := range info.Deps {
			if d.Path == path {
				return d.Version
			}
		}
	}
	return "(unknown)"
}

func main() {
	g := &gen{names: map[reflect.Type]string{}, taken: map[string]reflect.Type{}}
	root := g.structName(reflect.TypeFor[corev1.ReplicationController]())

	var body strings.Builder
	for len(g.queue) > 0 {
		t := g.queue[0]
		g.queue = g.queue[1:]
		fmt.Fprintf(&body, "\n/// `%s`\npub(super) static %s: &[Field] = &[\n", goName(t), g.names[t])
		for _, f := range fields(t) {
			fmt.Fprintf(&body, "    Field { name: %q, omitempty: %t, omitzero: %t, ty: %s },\n",
				f.name, f.omitEmpty, f.omitZero, g.ty(f.typ))
		}
		body.WriteString("];\n")
	}

	fmt.Printf(`//! Go's encoding/json view of every struct reachable from core/v1.ReplicationController:
//! fields in the order Go writes them, JSON names, omitempty/omitzero, types.
//!
//! Code generated by tools/kubectl-1.17/cmd/fieldorder from k8s.io/api %s and
//! k8s.io/apimachinery %s; DO NOT EDIT. Regenerate from the repository root with
//!
//! `+"```text"+`
//! (cd tools/kubectl-1.17 && go run ./cmd/fieldorder) > crates/rollout-engine/src/model/go_json/types.rs
//! `+"```"+`

use super::shape::{Field, Ty};

/// The root: `+"`k8s.io/api/core/v1.ReplicationController`"+`.
pub(super) static ROOT: &[Field] = %s;
`, version("k8s.io/api"), version("k8s.io/apimachinery"), root)
	fmt.Print(body.String())
}
