// Package report is the researcher's side of an encrypted query: the HE
// key pair kept sealed in the keyring (ResearcherKey), the alliance's
// query limits and HE parameters read from /params, the (ε, δ) → zCDP ρ
// conversion of a privacy spend, and the result report: the decrypted
// figures joined and turned into statistics, tables and a survival plot.
package report
