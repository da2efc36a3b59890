// Package flake reads the repository's flake.nix and flake.lock: the
// buildGoModule calls in flake.nix (for scripts/vendorhash), the lock entry,
// and an offline evaluation of the flake's outputs against a stub nixpkgs.
package flake

import (
	"fmt"
	"path"
	"sort"
	"strings"
)

// GoModule is one buildGoModule call in flake.nix, found through its
// `vendorHash = ...;` binding.
type GoModule struct {
	// ModRoot is the modRoot argument as written ("./" when absent).
	ModRoot string
	// Dir is ModRoot cleaned, relative to the flake: "." for the root.
	Dir string
	// VendorHash is the SRI hash; empty when Null.
	VendorHash string
	// Null is true for `vendorHash = null;`.
	Null bool
	// ProxyVendor is true for `proxyVendor = true;`.
	ProxyVendor bool
	// Line and Column locate the vendorHash name (1-based), like
	// builtins.unsafeGetAttrPos.
	Line, Column int

	valueStart, valueEnd int
}

// Value is the vendorHash as it reads in Nix: a hash or "null".
func (m GoModule) Value() string {
	if m.Null {
		return "null"
	}
	return m.VendorHash
}

type binding struct {
	path  string
	name  token
	value []token
	set   int // token index of the enclosing {, ( or -1
}

// GoModules returns every buildGoModule module in flake.nix source, in source
// order. Each `vendorHash` must be a string literal or null, with modRoot (if
// any) a string literal and proxyVendor (if any) true or false, written in the
// same attribute set.
func GoModules(src []byte) ([]GoModule, error) {
	text := string(src)
	toks, err := lex(text)
	if err != nil {
		return nil, err
	}
	bindings, err := bindingsOf(toks)
	if err != nil {
		return nil, err
	}
	bySet := map[int][]binding{}
	for _, b := range bindings {
		bySet[b.set] = append(bySet[b.set], b)
	}
	var mods []GoModule
	for _, b := range bindings {
		if b.path != "vendorHash" {
			continue
		}
		line, col := position(text, b.name.start)
		m := GoModule{ModRoot: "./", Line: line, Column: col}
		if len(b.value) != 1 {
			return nil, fmt.Errorf("flake.nix:%d:%d: vendorHash must be a string literal or null so scripts/vendorhash can check and update it", line, col)
		}
		v := b.value[0]
		switch {
		case v.kind == tokString && v.literal && strings.HasPrefix(v.text, `"`):
			m.VendorHash = v.value
		case v.kind == tokIdent && v.text == "null":
			m.Null = true
		default:
			return nil, fmt.Errorf("flake.nix:%d:%d: vendorHash must be a string literal or null, not %s", line, col, v.text)
		}
		m.valueStart, m.valueEnd = v.start, v.end
		for _, sib := range bySet[b.set] {
			if err := m.apply(sib, text); err != nil {
				return nil, err
			}
		}
		dir, err := cleanModRoot(m.ModRoot)
		if err != nil {
			return nil, fmt.Errorf("flake.nix:%d:%d: %w", line, col, err)
		}
		m.Dir = dir
		mods = append(mods, m)
	}
	return mods, nil
}

func (m *GoModule) apply(b binding, text string) error {
	line, col := position(text, b.name.start)
	switch b.path {
	case "modRoot":
		if len(b.value) != 1 || b.value[0].kind != tokString || !b.value[0].literal {
			return fmt.Errorf("flake.nix:%d:%d: modRoot must be a string literal", line, col)
		}
		m.ModRoot = b.value[0].value
	case "proxyVendor":
		if len(b.value) != 1 || (b.value[0].text != "true" && b.value[0].text != "false") {
			return fmt.Errorf("flake.nix:%d:%d: proxyVendor must be true or false", line, col)
		}
		m.ProxyVendor = b.value[0].text == "true"
	}
	return nil
}

func cleanModRoot(modRoot string) (string, error) {
	dir := path.Clean(modRoot)
	if path.IsAbs(dir) || dir == ".." || strings.HasPrefix(dir, "../") {
		return "", fmt.Errorf("modRoot %q must be a directory inside the flake", modRoot)
	}
	return dir, nil
}

// bindingsOf finds `attr.path = value;` bindings and the bracket that
// encloses each.
func bindingsOf(toks []token) ([]binding, error) {
	var bindings []binding
	var stack []int
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		if t.kind == tokPunct {
			switch t.text {
			case "{", "[", "(":
				stack = append(stack, i)
			case "}", "]", ")":
				if len(stack) == 0 {
					return nil, fmt.Errorf("flake.nix: unbalanced %q", t.text)
				}
				stack = stack[:len(stack)-1]
			}
			continue
		}
		if t.kind != tokIdent || !startsBinding(toks, i) {
			continue
		}
		names := []string{t.text}
		j := i
		for j+2 < len(toks) && isPunct(toks[j+1], ".") && (toks[j+2].kind == tokIdent || toks[j+2].kind == tokString) {
			names = append(names, strings.Trim(toks[j+2].text, `"`))
			j += 2
		}
		if j+1 >= len(toks) || !isPunct(toks[j+1], "=") {
			continue
		}
		end, err := valueEnd(toks, j+2)
		if err != nil {
			return nil, err
		}
		set := -1
		if len(stack) > 0 {
			set = stack[len(stack)-1]
		}
		bindings = append(bindings, binding{path: strings.Join(names, "."), name: t, value: toks[j+2 : end], set: set})
	}
	return bindings, nil
}

func startsBinding(toks []token, i int) bool {
	if i == 0 {
		return false
	}
	prev := toks[i-1]
	return isPunct(prev, "{") || isPunct(prev, ";") || (prev.kind == tokIdent && prev.text == "let")
}

// valueEnd returns the index of the ; that ends the value starting at from.
func valueEnd(toks []token, from int) (int, error) {
	depth := 0
	for k := from; k < len(toks); k++ {
		t := toks[k]
		if t.kind != tokPunct {
			continue
		}
		switch t.text {
		case "{", "[", "(":
			depth++
		case "}", "]", ")":
			depth--
			if depth < 0 {
				return 0, fmt.Errorf("flake.nix: a binding is missing its ;")
			}
		case ";":
			if depth == 0 {
				return k, nil
			}
		}
	}
	return 0, fmt.Errorf("flake.nix: a binding is missing its ;")
}

func isPunct(t token, s string) bool { return t.kind == tokPunct && t.text == s }

// WithVendorHashes returns src with the vendorHash of mods[i] set to
// values[i] ("null" or an SRI hash); nothing else in the file changes.
func WithVendorHashes(src []byte, mods []GoModule, values []string) ([]byte, error) {
	if len(mods) != len(values) {
		return nil, fmt.Errorf("WithVendorHashes: %d modules but %d values", len(mods), len(values))
	}
	order := make([]int, len(mods))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return mods[order[a]].valueStart > mods[order[b]].valueStart })
	out := append([]byte(nil), src...)
	for _, i := range order {
		literal := "null"
		if values[i] != "null" {
			if strings.ContainsAny(values[i], "\"\\$") {
				return nil, fmt.Errorf("refusing to write vendorHash %q", values[i])
			}
			literal = `"` + values[i] + `"`
		}
		m := mods[i]
		out = append(out[:m.valueStart], append([]byte(literal), out[m.valueEnd:]...)...)
	}
	return out, nil
}
