package flake

import (
	"fmt"
	"strings"
)

type tokenKind int

const (
	tokIdent tokenKind = iota
	tokString
	tokPunct
	tokOther
)

// token is one lexical element of a Nix file. Strings with interpolation
// are single tokens whose value is not known (literal == false).
type token struct {
	kind    tokenKind
	text    string // identifier, punctuation, or the string's raw source
	value   string // decoded value of a literal string
	literal bool   // string without ${...}
	start   int    // byte offsets in the source
	end     int
}

// lex splits Nix source into the tokens this package needs: identifiers,
// strings, and the punctuation that shapes attribute sets ({ } [ ] ( ) = ; .).
// Comments and whitespace are dropped; anything else becomes tokOther.
func lex(src string) ([]token, error) {
	l := lexer{src: src}
	for {
		l.skipSpaceAndComments()
		if l.err != nil {
			return nil, l.err
		}
		if l.pos >= len(src) {
			return l.toks, nil
		}
		l.next()
		if l.err != nil {
			return nil, l.err
		}
	}
}

type lexer struct {
	src  string
	pos  int
	toks []token
	err  error
}

func (l *lexer) fail(format string, args ...any) {
	if l.err == nil {
		line, col := position(l.src, l.pos)
		l.err = fmt.Errorf("flake.nix:%d:%d: %s", line, col, fmt.Sprintf(format, args...))
	}
}

func (l *lexer) skipSpaceAndComments() {
	for l.pos < len(l.src) {
		switch c := l.src[l.pos]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			l.pos++
		case c == '#':
			for l.pos < len(l.src) && l.src[l.pos] != '\n' {
				l.pos++
			}
		case strings.HasPrefix(l.src[l.pos:], "/*"):
			end := strings.Index(l.src[l.pos+2:], "*/")
			if end < 0 {
				l.fail("unterminated /* comment")
				return
			}
			l.pos += 2 + end + 2
		default:
			return
		}
	}
}

func (l *lexer) next() {
	start := l.pos
	c := l.src[l.pos]
	switch {
	case c == '"':
		value, literal := l.doubleQuoted()
		l.toks = append(l.toks, token{kind: tokString, text: l.src[start:l.pos], value: value, literal: literal, start: start, end: l.pos})
	case strings.HasPrefix(l.src[l.pos:], "''"):
		l.indented()
		l.toks = append(l.toks, token{kind: tokString, text: l.src[start:l.pos], start: start, end: l.pos})
	case isIdentStart(c):
		for l.pos < len(l.src) && isIdentChar(l.src[l.pos]) {
			l.pos++
		}
		l.toks = append(l.toks, token{kind: tokIdent, text: l.src[start:l.pos], start: start, end: l.pos})
	case strings.ContainsRune("{}[]();=.", rune(c)) && !l.startsPath():
		if c == '=' && strings.HasPrefix(l.src[l.pos:], "==") {
			l.pos += 2
			l.toks = append(l.toks, token{kind: tokOther, text: "==", start: start, end: l.pos})
			return
		}
		l.pos++
		l.toks = append(l.toks, token{kind: tokPunct, text: string(c), start: start, end: l.pos})
	case c == '$' && strings.HasPrefix(l.src[l.pos:], "${"):
		// ${ at attribute-name position (dynamic attribute): treat like {.
		l.pos += 2
		l.toks = append(l.toks, token{kind: tokPunct, text: "{", start: start, end: l.pos})
	default:
		// Paths (./go.sum), numbers, operators: not needed beyond their extent.
		for l.pos < len(l.src) && !isDelimiter(l.src[l.pos]) {
			l.pos++
		}
		if l.pos == start {
			l.pos++
		}
		l.toks = append(l.toks, token{kind: tokOther, text: l.src[start:l.pos], start: start, end: l.pos})
	}
}

// startsPath reports whether a '.' starts a path literal such as ./go.sum or ../x.
func (l *lexer) startsPath() bool {
	rest := l.src[l.pos:]
	return strings.HasPrefix(rest, "./") || strings.HasPrefix(rest, "../")
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdentChar(c byte) bool {
	return isIdentStart(c) || (c >= '0' && c <= '9') || c == '-' || c == '\''
}

func isDelimiter(c byte) bool {
	return strings.ContainsRune(" \t\r\n{}[]();=\"#", rune(c))
}

// doubleQuoted scans a "..." string starting at l.pos and returns its decoded
// value and whether it is a plain literal (no interpolation).
func (l *lexer) doubleQuoted() (string, bool) {
	l.pos++ // opening quote
	var b strings.Builder
	literal := true
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case c == '"':
			l.pos++
			return b.String(), literal
		case c == '\\' && l.pos+1 < len(l.src):
			switch e := l.src[l.pos+1]; e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			default:
				b.WriteByte(e)
			}
			l.pos += 2
		case strings.HasPrefix(l.src[l.pos:], "${"):
			literal = false
			l.pos += 2
			l.skipInterpolation()
		default:
			b.WriteByte(c)
			l.pos++
		}
	}
	l.fail("unterminated string")
	return "", false
}

// indented scans an indented string (opened by two single quotes) at l.pos.
func (l *lexer) indented() {
	l.pos += 2
	for l.pos < len(l.src) {
		rest := l.src[l.pos:]
		switch {
		case strings.HasPrefix(rest, "'''"), strings.HasPrefix(rest, "''$"):
			l.pos += 3
		case strings.HasPrefix(rest, "''\\"):
			l.pos += 4
		case strings.HasPrefix(rest, "''"):
			l.pos += 2
			return
		case strings.HasPrefix(rest, "${"):
			l.pos += 2
			l.skipInterpolation()
		default:
			l.pos++
		}
	}
	l.fail("unterminated '' string")
}

// skipInterpolation skips an expression up to its closing }, lexing nested
// strings so that braces inside them are not counted.
func (l *lexer) skipInterpolation() {
	inner := lexer{src: l.src, pos: l.pos}
	depth := 1
	for {
		inner.skipSpaceAndComments()
		if inner.err != nil || inner.pos >= len(l.src) {
			l.pos = inner.pos
			l.fail("unterminated ${ interpolation")
			return
		}
		inner.next()
		if inner.err != nil {
			l.err = inner.err
			return
		}
		last := inner.toks[len(inner.toks)-1]
		if last.kind == tokPunct && last.text == "{" {
			depth++
		}
		if last.kind == tokPunct && last.text == "}" {
			depth--
			if depth == 0 {
				l.pos = inner.pos
				return
			}
		}
	}
}

// position converts a byte offset into a 1-based line and column.
func position(src string, offset int) (int, int) {
	line, col := 1, 1
	for i := 0; i < offset && i < len(src); i++ {
		if src[i] == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return line, col
}
