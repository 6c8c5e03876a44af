package fhir

// Hand-written checks of the lexical forms (hot paths of reading and writing).

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isID: [A-Za-z0-9.-]{1,64}.
func isID(s string) bool {
	if len(s) < 1 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isDigit(c) || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// isDateForm: [0-9]{4}-[0-9]{2}-[0-9]{2}.
func isDateForm(s string) bool {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return false
	}
	for _, i := range [...]int{0, 1, 2, 3, 5, 6, 8, 9} {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// isDateTimeForm: date "T" hh:mm:ss [.fraction{1,9}] (Z | ±hh:mm).
func isDateTimeForm(s string) bool {
	if len(s) < 20 || !isDateForm(s[:10]) || s[10] != 'T' || !isClock(s[11:19]) {
		return false
	}
	rest := s[19:]
	if rest[0] == '.' {
		n := 1
		for n < len(rest) && isDigit(rest[n]) {
			n++
		}
		if n == 1 || n > 10 {
			return false
		}
		rest = rest[n:]
	}
	if rest == "Z" {
		return true
	}
	return len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && isDigit(rest[1]) && isDigit(rest[2]) && rest[3] == ':' && isDigit(rest[4]) && isDigit(rest[5])
}

// isClock: hh:mm:ss (digits only; ranges are left to time.Parse).
func isClock(s string) bool {
	return len(s) == 8 && isDigit(s[0]) && isDigit(s[1]) && s[2] == ':' && isDigit(s[3]) && isDigit(s[4]) && s[5] == ':' && isDigit(s[6]) && isDigit(s[7])
}

// isDecimalForm: -?(0|[1-9][0-9]*)(\.[0-9]+)?
func isDecimalForm(s string) bool {
	if s != "" && s[0] == '-' {
		s = s[1:]
	}
	i := 0
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	default:
		return false
	}
	if i == len(s) {
		return true
	}
	if s[i] != '.' || i+1 == len(s) {
		return false
	}
	for i++; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}
