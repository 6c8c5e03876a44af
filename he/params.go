package he

import (
	"fmt"

	"github.com/tuneinsight/lattigo/v6/schemes/bgv"
)

// ParametersLiteral is the alliance's BGV parameter set: ring degree 2^13,
// a 108-bit ciphertext modulus plus a 55-bit special modulus (163 bits in
// all, under the 218-bit bound for 128-bit security at N = 2^13), and the
// plaintext modulus 65537 so 4096 packed slots each hold an exact integer.
// Aggregation only adds ciphertexts, so no multiplicative depth is needed.
var ParametersLiteral = bgv.ParametersLiteral{
	LogN:             13,
	LogQ:             []int{54, 54},
	LogP:             []int{55},
	PlaintextModulus: 65537,
}

// Parameters validates ParametersLiteral.
func Parameters() (bgv.Parameters, error) {
	p, err := bgv.NewParametersFromLiteral(ParametersLiteral)
	if err != nil {
		return bgv.Parameters{}, fmt.Errorf("he: BGV parameters: %w", err)
	}
	return p, nil
}
