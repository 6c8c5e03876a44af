package fhir

import (
	"bytes"
	"encoding/json"
)

// A small splitter over JSON that json.Valid has accepted: it cuts objects
// into keys and raw values and arrays into raw elements, without copying.
// The readers validate every document before decoding it, so these only see
// valid JSON; they still return errors (never panic) if that ever fails.

// maxKeys bounds the keys of one object: no object of the subset has more
// than 8, and the duplicate check is quadratic.
const maxKeys = 32

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipWS(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// stringEnd returns the index after the string starting at b[i] == '"'.
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// valueEnd returns the index after the value starting at b[i], or -1.
func valueEnd(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				e := stringEnd(b, j)
				if e < 0 {
					return -1
				}
				j = e - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && !isSpace(b[j]) {
		j++
	}
	return j
}

// unquote decodes a JSON string literal.
func unquote(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

// splitObject cuts a valid JSON object into keys and raw values.
func splitObject(b []byte, path string) (keys []string, vals [][]byte, fe *fieldError) {
	bad := func() *fieldError { return ferr(path, ErrSyntax, "malformed object") }
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return nil, nil, bad()
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return nil, nil, nil
	}
	keys, vals = make([]string, 0, 8), make([][]byte, 0, 8)
	for {
		if i >= len(b) || b[i] != '"' {
			return nil, nil, bad()
		}
		e := stringEnd(b, i)
		if e < 0 {
			return nil, nil, bad()
		}
		key, ok := unquote(b[i:e])
		if !ok {
			return nil, nil, bad()
		}
		i = skipWS(b, e)
		if i >= len(b) || b[i] != ':' {
			return nil, nil, bad()
		}
		i = skipWS(b, i+1)
		e = valueEnd(b, i)
		if e < 0 {
			return nil, nil, bad()
		}
		for _, k := range keys {
			if k == key {
				return nil, nil, ferr(join(path, key), ErrDuplicate, "key %.64q appears twice", key)
			}
		}
		if len(keys) == maxKeys {
			return nil, nil, ferr(path, ErrInvalid, "more than %d keys in one object", maxKeys)
		}
		keys, vals = append(keys, key), append(vals, b[i:e])
		i = skipWS(b, e)
		if i < len(b) && b[i] == ',' {
			i = skipWS(b, i+1)
			continue
		}
		if i < len(b) && b[i] == '}' {
			return keys, vals, nil
		}
		return nil, nil, bad()
	}
}

// splitArray cuts a valid JSON array into raw elements.
func splitArray(b []byte, path string) ([][]byte, *fieldError) {
	bad := ferr(path, ErrSyntax, "malformed array")
	i := skipWS(b, 0)
	if i >= len(b) || b[i] != '[' {
		return nil, bad
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return nil, nil
	}
	var out [][]byte
	for {
		e := valueEnd(b, i)
		if e < 0 {
			return nil, bad
		}
		out = append(out, b[i:e])
		i = skipWS(b, e)
		if i < len(b) && b[i] == ',' {
			i = skipWS(b, i+1)
			continue
		}
		if i < len(b) && b[i] == ']' {
			return out, nil
		}
		return nil, bad
	}
}
