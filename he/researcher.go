package he

import (
	"github.com/tuneinsight/lattigo/v6/core/rlwe"
)

// GenResearcherKey returns a fresh key pair for a researcher: priv stays
// with the researcher; pub goes on chain with the query. Randomised.
func (p *Params) GenResearcherKey() (priv, pub []byte, err error) {
	sk, pk := rlwe.NewKeyGenerator(p.bgv).GenKeyPairNew()
	if priv, err = p.encode(kindResearcherSecret, nil, sk); err != nil {
		return nil, nil, err
	}
	if pub, err = p.encode(kindResearcherKey, nil, pk); err != nil {
		return nil, nil, err
	}
	return priv, pub, nil
}

// ValidateResearcherKey checks that pub is a canonical researcher public
// key. The contract calls it before accepting a query.
func (p *Params) ValidateResearcherKey(pub []byte) error {
	_, _, err := p.split(kindResearcherKey, pub)
	return err
}

// Decrypt decrypts a result ciphertext (the output of KeySwitch) with the
// researcher's private key and returns Slots signed values, each centred
// in (−T/2, T/2). Researcher side.
func (p *Params) Decrypt(priv, ct []byte) ([]int64, error) {
	sk := new(rlwe.SecretKey)
	if err := p.decode(kindResearcherSecret, priv, sk); err != nil {
		return nil, err
	}
	in, err := p.decodeCiphertext(kindResultCiphertext, ct)
	if err != nil {
		return nil, err
	}
	return p.decryptDecode(sk, in)
}
